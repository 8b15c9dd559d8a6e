"""Marketplace over GraphQL: finding listings, your installs, and installing one.

Same scopes and services as REST (`marketplace:read` / `marketplace:write`). Buying, moderation
and reviews stay REST-only: money moves where an `Idempotency-Key` header can go with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any, NewType

import strawberry

from codexos_server.graphql.context import Info
from codexos_server.graphql.inputs import to_model
from codexos_server.graphql.relay import Connection, connection, page_params
from codexos_server.graphql.types import build
from codexos_server.marketplace.discovery import page_offset
from codexos_server.marketplace.models import ListingStatus, PricingModel
from codexos_server.marketplace.schemas import (
    Category,
    InstallCreate,
    InstallOut,
    ListingOut,
    ListingSort,
)
from codexos_server.pagination import encode_cursor

for _enum, _name in (
    (ListingStatus, "ListingStatus"),
    (PricingModel, "PricingModel"),
    (Category, "ListingCategory"),
    (ListingSort, "ListingSort"),
):
    strawberry.enum(_enum, name=_name)

Credits = NewType("Credits", int)
# Registered in the schema's scalar_map (schema.py).
CREDITS_SCALAR = strawberry.scalar(
    name="Credits",
    serialize=int,
    parse_value=int,
    description="An integer number of credits (up to 10^12, beyond GraphQL's 32-bit Int)",
)


@strawberry.type
class Listing:
    id: strawberry.ID
    workspace_id: str
    created_by: str | None
    resource_type: str
    title: str
    summary: str
    description: str
    category: str
    tags: list[str]
    icon_url: str | None
    pricing_model: PricingModel
    price: Credits
    status: ListingStatus
    latest_version: int
    install_count: int
    rating_average: float | None
    rating_count: int
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


@strawberry.type
class MarketplaceInstall:
    id: strawberry.ID
    listing_id: str
    version: int
    latest_version: int
    resource_type: str
    resource_id: str
    price_per_run: Credits
    created_at: datetime
    updated_at: datetime


def listing(out: ListingOut) -> Listing:
    return build(
        Listing,
        out,
        pricing_model=out.pricing.model,
        price=out.pricing.price,
        rating_average=out.rating.average,
        rating_count=out.rating.count,
        resource_type=out.resource_type.value,
    )


def install(out: InstallOut) -> MarketplaceInstall:
    return build(MarketplaceInstall, out, resource_type=out.resource_type.value)


def _by_offset(start: int) -> Callable[[Any], str]:
    """Edge cursors of an offset-paged feed: the position after each edge."""
    positions = itertools.count(start + 1)
    return lambda _item: encode_cursor(next(positions), "")


@strawberry.type
class MarketplaceQueries:
    @strawberry.field(description="Published listings: full text, filters and sorts as REST")
    async def marketplace_listings(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        q: str | None = None,
        category: Category | None = None,
        pricing: PricingModel | None = None,
        min_rating: float | None = None,
        creator: str | None = None,
        sort: ListingSort = ListingSort.POPULAR,
    ) -> Connection[Listing]:
        actor = info.context.require("marketplace:read")
        params = page_params(first, after)
        page = await info.context.container.discovery.search(
            actor,
            params,
            q=q,
            category=category,
            pricing=pricing,
            min_rating=min_rating,
            creator=creator,
            sort=sort,
        )
        return connection(page, listing, _by_offset(page_offset(params)))

    @strawberry.field(description="A listing you can see")
    async def marketplace_listing(self, info: Info, id: strawberry.ID) -> Listing:
        actor = info.context.require("marketplace:read")
        return listing(await info.context.container.discovery.detail(actor, id))

    @strawberry.field(description="Listings installed in the workspace, newest first")
    async def marketplace_installs(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[MarketplaceInstall]:
        actor = info.context.require("marketplace:read")
        page = await info.context.container.installs.list(actor, page_params(first, after))
        return connection(page, install)


@strawberry.type
class MarketplaceMutations:
    @strawberry.mutation(description="Install a listing version (default: the latest)")
    async def install_listing(
        self, info: Info, listing_id: strawberry.ID, version: int | None = None
    ) -> MarketplaceInstall:
        actor = info.context.require("marketplace:write")
        body = to_model(InstallCreate, {"version": version})
        return install(await info.context.container.installs.install(actor, listing_id, body))
