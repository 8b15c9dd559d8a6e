"""Marketplace endpoints for using listings: purchases, installs and updates, reviews."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.marketplace.installs import InstallService
from codexos_server.marketplace.reviews import ReviewService
from codexos_server.marketplace.schemas import (
    InstallCreate,
    InstallOut,
    InstallResult,
    InstallUpdateRequest,
    PurchaseOut,
    ReplyCreate,
    ReviewCreate,
    ReviewOut,
    ReviewUpdate,
)
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep

router = APIRouter(prefix="/marketplace", tags=["marketplace"])


async def _installs(request: Request) -> InstallService:
    return get_container(request).installs


async def _reviews(request: Request) -> ReviewService:
    return get_container(request).reviews


InstallsDep = Annotated[InstallService, Depends(_installs)]
ReviewsDep = Annotated[ReviewService, Depends(_reviews)]
Reader = Annotated[Principal, scoped("marketplace:read")]
Writer = Annotated[Principal, scoped("marketplace:write")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Same key + same listing → the same purchase, charged once",
    ),
]


@router.post(
    "/listings/{listing_id}/purchase",
    status_code=status.HTTP_201_CREATED,
    operation_id="marketplace_listings_purchase",
    summary="Buy a one-time listing for your workspace",
    responses={
        200: {
            "model": PurchaseOut,
            "description": "Already bought: the earlier purchase, nothing charged",
        },
        **errors(402, 404, 409),
    },
)
async def purchase_listing(
    listing_id: str,
    installs: InstallsDep,
    principal: Writer,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> PurchaseOut:
    """Moves the price from your wallet to the creator's (less the platform fee) in one
    ledger transaction. A workspace buys a listing once: later calls return that purchase."""
    purchase, created = await installs.purchase(principal, listing_id, idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
    return purchase


@router.get(
    "/purchases",
    operation_id="marketplace_purchases_list",
    summary="Your workspace's purchases, newest first",
)
async def list_purchases(
    installs: InstallsDep, page: PageParamsDep, principal: Reader
) -> Page[PurchaseOut]:
    return await installs.purchases(principal, page)


@router.post(
    "/listings/{listing_id}/install",
    status_code=status.HTTP_201_CREATED,
    operation_id="marketplace_listings_install",
    summary="Install a listing version into your workspace",
    responses=errors(402, 404, 409, 422),
)
async def install_listing(
    listing_id: str,
    installs: InstallsDep,
    principal: Writer,
    body: InstallCreate | None = None,
) -> InstallResult:
    """Creates a normal agent or workflow (with its agents, tools and empty knowledge
    bases) that remembers the listing and version. One-time listings must be bought first
    (402 PURCHASE_REQUIRED); per-run listings charge each successful run."""
    return await installs.install(principal, listing_id, body or InstallCreate())


@router.get(
    "/installs",
    operation_id="marketplace_installs_list",
    summary="Listings installed in your workspace",
)
async def list_installs(
    installs: InstallsDep, page: PageParamsDep, principal: Reader
) -> Page[InstallOut]:
    return await installs.list(principal, page)


@router.get(
    "/installs/{install_id}",
    operation_id="marketplace_installs_get",
    summary="One install, with the listing's latest version",
    responses=errors(404),
)
async def get_install(install_id: str, installs: InstallsDep, principal: Reader) -> InstallOut:
    return await installs.get(principal, install_id)


@router.post(
    "/installs/{install_id}/update",
    operation_id="marketplace_installs_update",
    summary="Update an install to another version, keeping your changed settings",
    responses=errors(404, 409, 422),
)
async def update_install(
    install_id: str,
    installs: InstallsDep,
    principal: Writer,
    body: InstallUpdateRequest | None = None,
) -> InstallResult:
    """Settings you changed since installing are kept (listed in `kept`); the others take
    the new version's values."""
    return await installs.update(principal, install_id, body or InstallUpdateRequest())


@router.get(
    "/listings/{listing_id}/reviews",
    operation_id="marketplace_reviews_list",
    summary="A listing's reviews, newest first",
    responses=errors(404),
)
async def list_reviews(
    listing_id: str, reviews: ReviewsDep, page: PageParamsDep, principal: Reader
) -> Page[ReviewOut]:
    return await reviews.list(principal, listing_id, page)


@router.post(
    "/listings/{listing_id}/reviews",
    status_code=status.HTTP_201_CREATED,
    operation_id="marketplace_reviews_create",
    summary="Review a listing you installed (one review per user)",
    responses=errors(404, 409, 422),
)
async def create_review(
    listing_id: str, body: ReviewCreate, reviews: ReviewsDep, principal: Writer
) -> ReviewOut:
    return await reviews.create(principal, listing_id, body)


@router.patch(
    "/reviews/{review_id}",
    operation_id="marketplace_reviews_update",
    summary="Edit your review",
    responses=errors(404, 422),
)
async def update_review(
    review_id: str, body: ReviewUpdate, reviews: ReviewsDep, principal: Writer
) -> ReviewOut:
    return await reviews.update(principal, review_id, body)


@router.delete(
    "/reviews/{review_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="marketplace_reviews_delete",
    summary="Delete your review",
    responses=errors(404),
)
async def delete_review(review_id: str, reviews: ReviewsDep, principal: Writer) -> Response:
    await reviews.delete(principal, review_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/reviews/{review_id}/reply",
    operation_id="marketplace_reviews_reply",
    summary="Reply to a review of your listing (once)",
    responses=errors(404, 409, 422),
)
async def reply_review(
    review_id: str, body: ReplyCreate, reviews: ReviewsDep, principal: Writer
) -> ReviewOut:
    return await reviews.reply(principal, review_id, body)
