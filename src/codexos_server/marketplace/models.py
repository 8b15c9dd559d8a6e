"""Marketplace tables: listings and their immutable versions, installs, purchases, reviews."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from codexos_server.db.base import Base, IdMixin, JSONType, TimestampMixin, utcnow


class ResourceType(StrEnum):
    AGENT = "agent"
    WORKFLOW = "workflow"


class PricingModel(StrEnum):
    FREE = "free"
    ONE_TIME = "one_time"  # bought once per workspace, then installed and updated freely
    PER_RUN = "per_run"  # charged on each successful run of the installed agent


class ListingStatus(StrEnum):
    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    PUBLISHED = "published"
    UNLISTED = "unlisted"  # installable by link, not in search
    REMOVED = "removed"  # by an admin: not installable; existing installs keep working


class Listing(IdMixin, TimestampMixin, Base):
    __tablename__ = "marketplace_listings"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("rating_count >= 0", name="rating_count_not_negative"),
    )

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resource_type: Mapped[str] = mapped_column(String(16))
    # The agent or workflow new versions are snapshotted from (no FK: it may be deleted).
    resource_id: Mapped[str | None] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40), index=True)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    icon_url: Mapped[str | None] = mapped_column(String(500))
    pricing_model: Mapped[str] = mapped_column(String(16), index=True)
    price: Mapped[int] = mapped_column(BigInteger, default=0)  # credits; 0 when free
    status: Mapped[str] = mapped_column(String(20), default=ListingStatus.DRAFT.value, index=True)
    moderation_note: Mapped[str | None] = mapped_column(Text)  # the reason of a reject/remove
    latest_version: Mapped[int] = mapped_column(Integer, default=1)
    install_count: Mapped[int] = mapped_column(Integer, default=0)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    # title, summary and tags as one text: what full-text search indexes.
    search_text: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime | None] = mapped_column(index=True)


class ListingVersion(IdMixin, Base):
    """An immutable package: what installing this version of the listing creates."""

    __tablename__ = "marketplace_listing_versions"
    __table_args__ = (UniqueConstraint("listing_id", "version"),)

    listing_id: Mapped[str] = mapped_column(
        ForeignKey("marketplace_listings.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    changelog: Mapped[str] = mapped_column(Text, default="")
    package: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)


class Install(IdMixin, TimestampMixin, Base):
    """A listing installed into a workspace: the agent or workflow it created, at which
    version, and the per-run price agreed at install (or update) time."""

    __tablename__ = "marketplace_installs"
    __table_args__ = (UniqueConstraint("workspace_id", "listing_id"),)

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    listing_id: Mapped[str] = mapped_column(
        ForeignKey("marketplace_listings.id", ondelete="CASCADE"), index=True
    )
    installed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer)
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(String(36), index=True)
    # Everything else the install created (agents of a workflow, knowledge bases, tools).
    created_resources: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    price_per_run: Mapped[int] = mapped_column(BigInteger, default=0)


class Purchase(IdMixin, Base):
    __tablename__ = "marketplace_purchases"
    __table_args__ = (UniqueConstraint("workspace_id", "listing_id"),)

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    listing_id: Mapped[str] = mapped_column(
        ForeignKey("marketplace_listings.id", ondelete="CASCADE"), index=True
    )
    purchased_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"))
    price: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)


class Review(IdMixin, TimestampMixin, Base):
    __tablename__ = "marketplace_reviews"
    __table_args__ = (
        UniqueConstraint("listing_id", "user_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
    )

    listing_id: Mapped[str] = mapped_column(
        ForeignKey("marketplace_listings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    rating: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text, default="")
    reply: Mapped[str | None] = mapped_column(Text)
    replied_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    replied_at: Mapped[datetime | None] = mapped_column()
