"""Marketplace: listings, installs, purchases and reviews."""

from __future__ import annotations

from typing import Any

from codexos._core import compact
from codexos._resource import AsyncResource
from codexos.pagination import AsyncPaginator
from codexos.types import (
    Install,
    InstallResult,
    Listing,
    ListingVersion,
    ListingVersionDetail,
    Purchase,
    Review,
)


class AsyncMarketplace(AsyncResource):
    def search(
        self,
        q: str | None = None,
        *,
        category: str | None = None,
        pricing: str | None = None,
        min_rating: float | None = None,
        creator: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> AsyncPaginator[Listing]:
        """Published listings matching the filters."""
        params = compact(
            q=q,
            category=category,
            pricing=pricing,
            min_rating=min_rating,
            creator=creator,
            sort=sort,
            limit=limit,
        )
        return self._client._list(Listing, "/marketplace/listings", params)

    async def create_listing(
        self, resource_type: str, resource_id: str, title: str, **fields: Any
    ) -> Listing:
        """A draft listing of an agent or workflow you own (`submit` it for review)."""
        body = {"resource_type": resource_type, "resource_id": resource_id, "title": title}
        return await self._client._call(
            Listing, "POST", "/marketplace/listings", json_body={**body, **fields}
        )

    async def retrieve_listing(self, listing_id: str) -> Listing:
        return await self._client._call(Listing, "GET", f"/marketplace/listings/{listing_id}")

    async def update_listing(self, listing_id: str, **fields: Any) -> Listing:
        path = f"/marketplace/listings/{listing_id}"
        return await self._client._call(Listing, "PATCH", path, json_body=fields)

    def my_listings(self, *, limit: int | None = None) -> AsyncPaginator[Listing]:
        return self._client._list(Listing, "/marketplace/listings/mine", compact(limit=limit))

    async def submit(self, listing_id: str) -> Listing:
        """Send a draft to moderation."""
        path = f"/marketplace/listings/{listing_id}/submit"
        return await self._client._call(Listing, "POST", path)

    async def approve(self, listing_id: str) -> Listing:
        """Publish a listing under review (admins)."""
        path = f"/marketplace/listings/{listing_id}/approve"
        return await self._client._call(Listing, "POST", path)

    async def install(self, listing_id: str, *, version: int | None = None) -> InstallResult:
        """Install a published listing into the current workspace (paid ones need a purchase)."""
        path = f"/marketplace/listings/{listing_id}/install"
        body = compact(version=version)
        return await self._client._call(InstallResult, "POST", path, json_body=body)

    def installs(self, *, limit: int | None = None) -> AsyncPaginator[Install]:
        return self._client._list(Install, "/marketplace/installs", compact(limit=limit))

    async def purchase(self, listing_id: str, *, idempotency_key: str | None = None) -> Purchase:
        """Buy a paid listing with wallet credits; retries reuse one Idempotency-Key."""
        path = f"/marketplace/listings/{listing_id}/purchase"
        return await self._client._call_idempotent(Purchase, path, idempotency_key)

    def purchases(self, *, limit: int | None = None) -> AsyncPaginator[Purchase]:
        return self._client._list(Purchase, "/marketplace/purchases", compact(limit=limit))

    def reviews(self, listing_id: str, *, limit: int | None = None) -> AsyncPaginator[Review]:
        path = f"/marketplace/listings/{listing_id}/reviews"
        return self._client._list(Review, path, compact(limit=limit))

    async def create_review(self, listing_id: str, rating: int, body: str = "") -> Review:
        path = f"/marketplace/listings/{listing_id}/reviews"
        payload = {"rating": rating, "body": body}
        return await self._client._call(Review, "POST", path, json_body=payload)

    async def delete_listing(self, listing_id: str) -> None:
        await self._client._call_none("DELETE", f"/marketplace/listings/{listing_id}")

    async def create_version(self, listing_id: str, *, changelog: str = "") -> ListingVersion:
        """Package the resource's current definition as the listing's next version."""
        path = f"/marketplace/listings/{listing_id}/versions"
        body = {"changelog": changelog}
        return await self._client._call(ListingVersion, "POST", path, json_body=body)

    async def retrieve_version(self, listing_id: str, version: int) -> ListingVersionDetail:
        """A version; `package` is only shown to the listing's workspace."""
        path = f"/marketplace/listings/{listing_id}/versions/{version}"
        return await self._client._call(ListingVersionDetail, "GET", path)

    async def unlist(self, listing_id: str) -> Listing:
        """Hide a published listing from search (installs keep working)."""
        path = f"/marketplace/listings/{listing_id}/unlist"
        return await self._client._call(Listing, "POST", path)

    async def relist(self, listing_id: str) -> Listing:
        path = f"/marketplace/listings/{listing_id}/relist"
        return await self._client._call(Listing, "POST", path)

    async def reject(self, listing_id: str, *, reason: str = "") -> Listing:
        """Send a listing under review back to its author (admins)."""
        path = f"/marketplace/listings/{listing_id}/reject"
        return await self._client._call(Listing, "POST", path, json_body={"reason": reason})

    async def remove(self, listing_id: str, *, reason: str = "") -> Listing:
        """Take a listing off the marketplace (admins)."""
        path = f"/marketplace/listings/{listing_id}/remove"
        return await self._client._call(Listing, "POST", path, json_body={"reason": reason})

    def review_queue(self, *, limit: int | None = None) -> AsyncPaginator[Listing]:
        """Listings waiting for moderation (admins)."""
        return self._client._list(Listing, "/marketplace/review-queue", compact(limit=limit))

    async def retrieve_install(self, install_id: str) -> Install:
        return await self._client._call(Install, "GET", f"/marketplace/installs/{install_id}")

    async def update_install(self, install_id: str, *, version: int | None = None) -> InstallResult:
        """Move an install to `version` (default: the latest)."""
        path = f"/marketplace/installs/{install_id}/update"
        return await self._client._call(
            InstallResult, "POST", path, json_body=compact(version=version)
        )

    async def update_review(
        self, review_id: str, *, rating: int | None = None, body: str | None = None
    ) -> Review:
        path = f"/marketplace/reviews/{review_id}"
        payload = compact(rating=rating, body=body)
        return await self._client._call(Review, "PATCH", path, json_body=payload)

    async def delete_review(self, review_id: str) -> None:
        await self._client._call_none("DELETE", f"/marketplace/reviews/{review_id}")

    async def reply_to_review(self, review_id: str, body: str) -> Review:
        """The listing's author answers a review."""
        path = f"/marketplace/reviews/{review_id}/reply"
        return await self._client._call(Review, "POST", path, json_body={"body": body})
