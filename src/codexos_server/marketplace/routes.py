"""Marketplace endpoints: listings, discovery, versions and moderation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.marketplace.discovery import DiscoveryService
from codexos_server.marketplace.listings import ListingService
from codexos_server.marketplace.models import PricingModel
from codexos_server.marketplace.schemas import (
    MAX_VERSION,
    Category,
    ListingCreate,
    ListingDetail,
    ListingOut,
    ListingSort,
    ListingUpdate,
    ModerationRequest,
    VersionCreate,
    VersionDetail,
    VersionOut,
)
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep

router = APIRouter(prefix="/marketplace", tags=["marketplace"])


async def _listings(request: Request) -> ListingService:
    return get_container(request).listings


async def _discovery(request: Request) -> DiscoveryService:
    return get_container(request).discovery


ListingsDep = Annotated[ListingService, Depends(_listings)]
DiscoveryDep = Annotated[DiscoveryService, Depends(_discovery)]
Reader = Annotated[Principal, scoped("marketplace:read")]
Writer = Annotated[Principal, scoped("marketplace:write")]
Admin = Annotated[Principal, scoped("admin")]


@router.get(
    "/listings",
    operation_id="marketplace_listings_search",
    summary="Search published listings",
    responses=errors(422),
)
async def search_listings(
    discovery: DiscoveryDep,
    page: PageParamsDep,
    principal: Reader,
    q: Annotated[
        str | None, Query(max_length=200, description="Words in the title, summary or tags")
    ] = None,
    category: Category | None = None,
    pricing: PricingModel | None = None,
    min_rating: Annotated[float | None, Query(ge=1, le=5)] = None,
    creator: Annotated[
        str | None, Query(max_length=36, description="The creator's workspace id")
    ] = None,
    sort: ListingSort = ListingSort.POPULAR,
) -> Page[ListingOut]:
    """`popular`: most installs; `top_rated`: best average, then most ratings; `newest`:
    latest published; `trending`: most installs in the last 7 days."""
    return await discovery.search(
        principal,
        page,
        q=q,
        category=category,
        pricing=pricing,
        min_rating=min_rating,
        creator=creator,
        sort=sort,
    )


@router.post(
    "/listings",
    status_code=status.HTTP_201_CREATED,
    operation_id="marketplace_listings_create",
    summary="Create a draft listing from one of your agents or workflows",
    responses=errors(404, 422),
)
async def create_listing(
    body: ListingCreate, listings: ListingsDep, principal: Writer
) -> ListingOut:
    """Version 1's package is snapshotted now, without secrets: provider keys, tool header
    values, webhooks and secret-looking settings are left out; knowledge bases become empty
    placeholders."""
    return await listings.create(principal, body)


@router.get(
    "/listings/mine",
    operation_id="marketplace_listings_mine",
    summary="Your workspace's listings, in every status",
)
async def my_listings(
    discovery: DiscoveryDep, page: PageParamsDep, principal: Reader
) -> Page[ListingOut]:
    return await discovery.mine(principal, page)


@router.get(
    "/review-queue",
    operation_id="marketplace_review_queue",
    summary="Listings waiting for review (admin)",
    responses=errors(403),
)
async def review_queue(
    discovery: DiscoveryDep, page: PageParamsDep, principal: Admin
) -> Page[ListingOut]:
    return await discovery.pending(principal, page)


@router.get(
    "/listings/{listing_id}",
    operation_id="marketplace_listings_get",
    summary="A listing with versions, ratings breakdown and recent reviews",
    responses=errors(404),
)
async def get_listing(listing_id: str, discovery: DiscoveryDep, principal: Reader) -> ListingDetail:
    return await discovery.detail(principal, listing_id)


@router.patch(
    "/listings/{listing_id}",
    operation_id="marketplace_listings_update",
    summary="Update your listing's description or price",
    responses=errors(404, 409, 422),
)
async def update_listing(
    listing_id: str, body: ListingUpdate, listings: ListingsDep, principal: Writer
) -> ListingOut:
    return await listings.update(principal, listing_id, body)


@router.delete(
    "/listings/{listing_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="marketplace_listings_delete",
    summary="Delete a listing nobody installed or bought",
    responses=errors(404, 409),
)
async def delete_listing(listing_id: str, listings: ListingsDep, principal: Writer) -> Response:
    await listings.delete(principal, listing_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/listings/{listing_id}/versions",
    status_code=status.HTTP_201_CREATED,
    operation_id="marketplace_versions_create",
    summary="Publish a new version from the listing's agent or workflow as it is now",
    responses=errors(404, 409),
)
async def create_version(
    listing_id: str,
    listings: ListingsDep,
    principal: Writer,
    body: VersionCreate | None = None,
) -> VersionOut:
    return await listings.add_version(principal, listing_id, body or VersionCreate())


@router.get(
    "/listings/{listing_id}/versions/{version}",
    operation_id="marketplace_versions_get",
    summary="A version's requirements (and its package, for the listing's workspace)",
    responses=errors(404),
)
async def get_version(
    listing_id: str,
    version: Annotated[int, Path(ge=1, le=MAX_VERSION)],
    listings: ListingsDep,
    principal: Reader,
) -> VersionDetail:
    return await listings.version(principal, listing_id, version)


@router.post(
    "/listings/{listing_id}/submit",
    operation_id="marketplace_listings_submit",
    summary="Submit a draft for review",
    responses=errors(404, 409),
)
async def submit_listing(listing_id: str, listings: ListingsDep, principal: Writer) -> ListingOut:
    """draft -> pending_review (or straight to published when the server does not require
    review)."""
    return await listings.submit(principal, listing_id)


@router.post(
    "/listings/{listing_id}/unlist",
    operation_id="marketplace_listings_unlist",
    summary="Hide a published listing from search (still installable by id)",
    responses=errors(404, 409),
)
async def unlist_listing(listing_id: str, listings: ListingsDep, principal: Writer) -> ListingOut:
    return await listings.unlist(principal, listing_id)


@router.post(
    "/listings/{listing_id}/relist",
    operation_id="marketplace_listings_relist",
    summary="Put an unlisted listing back in search",
    responses=errors(404, 409),
)
async def relist_listing(listing_id: str, listings: ListingsDep, principal: Writer) -> ListingOut:
    return await listings.relist(principal, listing_id)


@router.post(
    "/listings/{listing_id}/approve",
    operation_id="marketplace_listings_approve",
    summary="Approve and publish a listing waiting for review (admin)",
    responses=errors(403, 404, 409),
)
async def approve_listing(listing_id: str, listings: ListingsDep, principal: Admin) -> ListingOut:
    return await listings.approve(principal, listing_id)


@router.post(
    "/listings/{listing_id}/reject",
    operation_id="marketplace_listings_reject",
    summary="Send a listing waiting for review back to draft, with a reason (admin)",
    responses=errors(403, 404, 409, 422),
)
async def reject_listing(
    listing_id: str, body: ModerationRequest, listings: ListingsDep, principal: Admin
) -> ListingOut:
    return await listings.reject(principal, listing_id, body)


@router.post(
    "/listings/{listing_id}/remove",
    operation_id="marketplace_listings_remove",
    summary="Remove a listing from the marketplace, with a reason (admin)",
    responses=errors(403, 404, 409, 422),
)
async def remove_listing(
    listing_id: str, body: ModerationRequest, listings: ListingsDep, principal: Admin
) -> ListingOut:
    """It can no longer be found, bought or installed; existing installs keep working."""
    return await listings.remove(principal, listing_id, body)
