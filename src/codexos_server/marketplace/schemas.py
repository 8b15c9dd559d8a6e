"""Marketplace API shapes: listings, versions, installs, purchases and reviews."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from codexos_server.billing.ledger import MAX_AMOUNT
from codexos_server.marketplace.models import ListingStatus, PricingModel, ResourceType

MAX_VERSION = 1_000_000
_TAG = re.compile(r"^[a-z0-9][a-z0-9\-]{0,29}$")


def _clean_tags(tags: list[str]) -> list[str]:
    """Lowercased, distinct, in order. Raises: ValueError for a malformed tag."""
    cleaned: list[str] = []
    for raw in tags:
        tag = raw.strip().lower()
        if not _TAG.match(tag):
            raise ValueError(f"tag {raw!r}: lowercase letters, digits and '-', 1-30 long")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


class Category(StrEnum):
    PRODUCTIVITY = "productivity"
    RESEARCH = "research"
    WRITING = "writing"
    CODING = "coding"
    DATA = "data"
    CUSTOMER_SUPPORT = "customer_support"
    MARKETING = "marketing"
    EDUCATION = "education"
    FINANCE = "finance"
    OTHER = "other"


class ListingSort(StrEnum):
    POPULAR = "popular"  # most installs
    TOP_RATED = "top_rated"  # highest average rating, then most ratings
    NEWEST = "newest"  # most recently published
    TRENDING = "trending"  # most installs in the last 7 days


class Pricing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: PricingModel = PricingModel.FREE
    price: int = Field(default=0, ge=0, le=MAX_AMOUNT, description="Credits; 0 when free")

    @model_validator(mode="after")
    def _price_matches_model(self) -> Pricing:
        if self.model is PricingModel.FREE and self.price != 0:
            raise ValueError("a free listing has price 0")
        if self.model is not PricingModel.FREE and self.price < 1:
            raise ValueError(f"a {self.model.value} listing needs a price of at least 1 credit")
        return self


class _ListingFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=120)
    summary: str = Field(default="", max_length=300)
    description: str = Field(default="", max_length=20_000, description="Markdown")
    category: Category = Category.OTHER
    tags: list[str] = Field(default_factory=list, max_length=10)
    icon_url: str | None = Field(
        default=None, max_length=500, pattern=r"^https?://[^\s]+$", description="http(s) URL"
    )
    pricing: Pricing = Field(default_factory=Pricing)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        return _clean_tags(tags)


class ListingCreate(_ListingFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resource_type": "agent",
                    "resource_id": "…",
                    "title": "Support triage",
                    "summary": "Sorts tickets by urgency",
                    "category": "customer_support",
                    "tags": ["support", "triage"],
                    "pricing": {"model": "per_run", "price": 2},
                }
            ]
        },
    )

    resource_type: ResourceType
    resource_id: str = Field(min_length=1, max_length=36)
    changelog: str = Field(default="", max_length=5000, description="Notes for version 1")


class ListingUpdate(BaseModel):
    """Partial update of the listing's description. A price change applies to purchases and
    installs made after it; existing per-run installs keep their price until they update."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=120)
    summary: str | None = Field(default=None, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    category: Category | None = None
    tags: list[str] | None = Field(default=None, max_length=10)
    icon_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s]+$")
    pricing: Pricing | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else _clean_tags(tags)


class VersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changelog: str = Field(default="", max_length=5000)


class ModerationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000, description="Required to reject or remove")


class Rating(BaseModel):
    average: float | None = Field(description="Mean of the ratings, 2 decimals; null when none")
    count: int


class ListingOut(BaseModel):
    id: str
    workspace_id: str = Field(description="The creator's workspace")
    created_by: str | None
    resource_type: ResourceType
    title: str
    summary: str
    description: str
    category: str
    tags: list[str]
    icon_url: str | None
    pricing: Pricing
    status: ListingStatus
    moderation_note: str | None = Field(description="Why it was rejected or removed (creator)")
    latest_version: int
    install_count: int
    rating: Rating
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


class VersionOut(BaseModel):
    version: int
    changelog: str
    created_at: datetime
    requirements: dict[str, Any] = Field(description="What installing it needs and creates")


class VersionDetail(VersionOut):
    package: dict[str, Any] | None = Field(
        description="The full package: shown to the listing's workspace only"
    )


class ReviewOut(BaseModel):
    id: str
    listing_id: str
    user_id: str
    rating: int
    body: str
    reply: str | None
    replied_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ViewerState(BaseModel):
    purchased: bool
    installed_version: int | None
    install_id: str | None
    reviewed: bool


class ListingDetail(ListingOut):
    versions: list[VersionOut]
    ratings_breakdown: dict[str, int] = Field(description='"1".."5" -> number of reviews')
    recent_reviews: list[ReviewOut]
    viewer: ViewerState


class InstallCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Default: the latest version"
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Name of the new agent/workflow"
    )


class InstallUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Default: the latest version"
    )


class InstallOut(BaseModel):
    id: str
    listing_id: str
    version: int
    latest_version: int
    resource_type: ResourceType
    resource_id: str
    created_resources: dict[str, Any]
    price_per_run: int
    created_at: datetime
    updated_at: datetime


class InstallResult(InstallOut):
    setup_required: list[str] = Field(
        description="What to configure before it runs well: secrets, providers, documents"
    )
    kept: list[str] = Field(
        default_factory=list, description="On update: your changed settings that were kept"
    )


class PurchaseOut(BaseModel):
    id: str
    listing_id: str
    price: int
    transaction_id: str
    created_at: datetime


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    body: str = Field(default="", max_length=5000)


class ReviewUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int | None = Field(default=None, ge=1, le=5)
    body: str | None = Field(default=None, max_length=5000)


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=5000)
