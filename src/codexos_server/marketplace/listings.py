"""Listings: creating, describing and versioning them, and their moderation.

Status moves (anything else is a 409):

    draft ──submit──▶ pending_review ──approve (admin)──▶ published ◀──relist── unlisted
      ▲                     │                                 │──unlist──────────▶ │
      └────reject (admin)───┘                any ──remove (admin)──▶ removed

With `marketplace_review_required` off, submit publishes at once. A published listing's
new versions are installable as soon as they are added (the listing was reviewed; an admin
can still remove it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.config import Settings
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound, ValidationFailed
from codexos_server.marketplace.models import (
    Install,
    Listing,
    ListingStatus,
    ListingVersion,
    PricingModel,
    Purchase,
    ResourceType,
)
from codexos_server.marketplace.packages import build_package
from codexos_server.marketplace.schemas import (
    ListingCreate,
    ListingOut,
    ListingUpdate,
    ModerationRequest,
    Pricing,
    Rating,
    VersionCreate,
    VersionDetail,
    VersionOut,
)
from codexos_server.workspaces.permissions import Action

VISIBLE = (ListingStatus.PUBLISHED.value, ListingStatus.UNLISTED.value)


def search_text(title: str, summary: str, tags: list[str]) -> str:
    return " ".join([title, summary, *tags])


def rating_of(listing: Listing) -> Rating:
    if not listing.rating_count:
        return Rating(average=None, count=0)
    return Rating(
        average=round(listing.rating_sum / listing.rating_count, 2), count=listing.rating_count
    )


def listing_out(listing: Listing, actor: Principal | None = None) -> ListingOut:
    """The API view; the moderation note only for the listing's workspace and admins."""
    insider = actor is not None and (actor.workspace_id == listing.workspace_id or actor.is_admin)
    return ListingOut(
        id=listing.id,
        workspace_id=listing.workspace_id,
        created_by=listing.created_by,
        resource_type=ResourceType(listing.resource_type),
        title=listing.title,
        summary=listing.summary,
        description=listing.description,
        category=listing.category,
        tags=list(listing.tags or []),
        icon_url=listing.icon_url,
        pricing=Pricing(model=PricingModel(listing.pricing_model), price=listing.price),
        status=ListingStatus(listing.status),
        moderation_note=listing.moderation_note if insider else None,
        latest_version=listing.latest_version,
        install_count=listing.install_count,
        rating=rating_of(listing),
        published_at=listing.published_at,
        created_at=listing.created_at,
        updated_at=listing.updated_at,
    )


def version_out(row: ListingVersion, *, with_package: bool = False) -> VersionOut:
    fields: dict[str, Any] = {
        "version": row.version,
        "changelog": row.changelog,
        "created_at": row.created_at,
        "requirements": dict(row.package.get("requirements") or {}),
    }
    if with_package:
        return VersionDetail(**fields, package=row.package)
    return VersionOut(**fields)


def _check_pricing(resource_type: str, pricing: Pricing) -> None:
    if pricing.model is PricingModel.PER_RUN and resource_type != ResourceType.AGENT.value:
        raise ValidationFailed(
            "Per-run pricing is for agents",
            [{"field": "pricing.model", "message": "a workflow is free or one_time"}],
        )


def _move(listing: Listing, allowed_from: tuple[ListingStatus, ...], to: ListingStatus) -> None:
    """Raises: Conflict unless the listing is in one of `allowed_from`."""
    if listing.status not in {s.value for s in allowed_from}:
        raise Conflict(
            f"A {listing.status} listing cannot become {to.value}",
            {"status": listing.status, "allowed_from": [s.value for s in allowed_from]},
        )
    listing.status = to.value
    if to is ListingStatus.PUBLISHED and listing.published_at is None:
        listing.published_at = utcnow()


class ListingService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    @staticmethod
    async def load(session: AsyncSession, listing_id: str, *, lock: bool = False) -> Listing | None:
        stmt = select(Listing).where(Listing.id == listing_id)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return await session.scalar(stmt)

    async def owned(self, session: AsyncSession, actor: Principal, listing_id: str) -> Listing:
        """A listing of the actor's workspace (locked). Raises: NotFound."""
        listing = await self.load(session, listing_id, lock=True)
        if listing is None or listing.workspace_id != actor.workspace_id:
            raise NotFound("listing", listing_id)
        return listing

    @staticmethod
    async def visible(session: AsyncSession, actor: Principal, listing_id: str) -> Listing:
        """A listing the actor may see: published or unlisted, or its own, or any for admins.
        Raises: NotFound."""
        listing = await ListingService.load(session, listing_id)
        if listing is None or not (
            listing.status in VISIBLE
            or listing.workspace_id == actor.workspace_id
            or actor.is_admin
        ):
            raise NotFound("listing", listing_id)
        return listing

    @staticmethod
    async def _package(
        session: AsyncSession, workspace_id: str, resource_type: str, resource_id: str
    ) -> dict[str, Any]:
        package = await build_package(session, workspace_id, resource_type, resource_id)
        if package is None:
            raise NotFound(resource_type, resource_id)
        return package

    async def create(self, actor: Principal, body: ListingCreate) -> ListingOut:
        """A draft listing with version 1 snapshotted from the agent or workflow."""
        actor.require(Action.WRITE)
        _check_pricing(body.resource_type.value, body.pricing)
        async with self.db.transaction() as session:
            package = await self._package(
                session, actor.workspace_id, body.resource_type.value, body.resource_id
            )
            listing = Listing(
                workspace_id=actor.workspace_id,
                created_by=actor.user_id,
                resource_type=body.resource_type.value,
                resource_id=body.resource_id,
                title=body.title,
                summary=body.summary,
                description=body.description,
                category=body.category.value,
                tags=body.tags,
                icon_url=body.icon_url,
                pricing_model=body.pricing.model.value,
                price=body.pricing.price,
                status=ListingStatus.DRAFT.value,
                latest_version=1,
                install_count=0,
                rating_count=0,
                rating_sum=0,
                search_text=search_text(body.title, body.summary, body.tags),
            )
            session.add(listing)
            await session.flush()
            session.add(
                ListingVersion(
                    listing_id=listing.id, version=1, changelog=body.changelog, package=package
                )
            )
            await session.flush()
            return listing_out(listing, actor)

    async def update(self, actor: Principal, listing_id: str, body: ListingUpdate) -> ListingOut:
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            listing = await self.owned(session, actor, listing_id)
            if listing.status == ListingStatus.REMOVED.value:
                raise Conflict("A removed listing cannot be changed")
            changes = body.model_dump(exclude_unset=True)
            if "pricing" in changes and body.pricing is not None:
                _check_pricing(listing.resource_type, body.pricing)
                listing.pricing_model = body.pricing.model.value
                listing.price = body.pricing.price
            for field in ("title", "summary", "description", "tags", "icon_url"):
                if field in changes and (changes[field] is not None or field == "icon_url"):
                    setattr(listing, field, changes[field])
            if body.category is not None:
                listing.category = body.category.value
            listing.search_text = search_text(listing.title, listing.summary, listing.tags)
            listing.updated_at = utcnow()
            await session.flush()
            return listing_out(listing, actor)

    async def delete(self, actor: Principal, listing_id: str) -> None:
        """Only a listing nobody installed or bought; otherwise unlist it."""
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            listing = await self.owned(session, actor, listing_id)
            for table in (Install, Purchase):
                used = await session.scalar(
                    select(func.count()).select_from(table).where(table.listing_id == listing.id)
                )
                if used:
                    raise Conflict(
                        "A listing that was installed or bought cannot be deleted; unlist it",
                        {"status": listing.status},
                    )
            await session.delete(listing)

    async def add_version(
        self, actor: Principal, listing_id: str, body: VersionCreate
    ) -> VersionOut:
        """Snapshot the source agent or workflow as the next version; old ones stay."""
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            listing = await self.owned(session, actor, listing_id)
            if listing.status == ListingStatus.REMOVED.value:
                raise Conflict("A removed listing cannot get new versions")
            if listing.resource_id is None:
                raise Conflict("The listing's source was deleted")
            try:
                package = await self._package(
                    session, actor.workspace_id, listing.resource_type, listing.resource_id
                )
            except NotFound as exc:
                raise Conflict(
                    f"The listing's source {listing.resource_type} was deleted",
                    {"resource_id": listing.resource_id},
                ) from exc
            listing.latest_version += 1
            listing.updated_at = utcnow()
            row = ListingVersion(
                listing_id=listing.id,
                version=listing.latest_version,
                changelog=body.changelog,
                package=package,
            )
            session.add(row)
            await session.flush()
            return version_out(row)

    async def version(self, actor: Principal, listing_id: str, version: int) -> VersionDetail:
        """A version's requirements; its package only for the listing's workspace."""
        async with self.db.read() as session:
            listing = await self.visible(session, actor, listing_id)
            row = await session.scalar(
                select(ListingVersion).where(
                    ListingVersion.listing_id == listing.id, ListingVersion.version == version
                )
            )
            if row is None:
                raise NotFound("listing version", str(version))
            owner = listing.workspace_id == actor.workspace_id
            out = version_out(row, with_package=True)
            assert isinstance(out, VersionDetail)
            return out if owner else out.model_copy(update={"package": None})

    # -- status ------------------------------------------------------------------------------

    async def _transition(
        self,
        actor: Principal,
        listing_id: str,
        allowed_from: tuple[ListingStatus, ...],
        to: ListingStatus,
        *,
        admin: bool = False,
        note: str | None = None,
    ) -> ListingOut:
        async with self.db.transaction() as session:
            if admin:
                actor.require_admin()
                found = await self.load(session, listing_id, lock=True)
                if found is None:
                    raise NotFound("listing", listing_id)
                listing = found
            else:
                actor.require(Action.WRITE)
                listing = await self.owned(session, actor, listing_id)
            _move(listing, allowed_from, to)
            if admin:
                listing.moderation_note = note
            listing.updated_at = utcnow()
            await session.flush()
            return listing_out(listing, actor)

    async def submit(self, actor: Principal, listing_id: str) -> ListingOut:
        target = (
            ListingStatus.PENDING_REVIEW
            if self.settings.marketplace_review_required
            else ListingStatus.PUBLISHED
        )
        return await self._transition(actor, listing_id, (ListingStatus.DRAFT,), target)

    async def unlist(self, actor: Principal, listing_id: str) -> ListingOut:
        return await self._transition(
            actor, listing_id, (ListingStatus.PUBLISHED,), ListingStatus.UNLISTED
        )

    async def relist(self, actor: Principal, listing_id: str) -> ListingOut:
        return await self._transition(
            actor, listing_id, (ListingStatus.UNLISTED,), ListingStatus.PUBLISHED
        )

    async def approve(self, actor: Principal, listing_id: str) -> ListingOut:
        return await self._transition(
            actor,
            listing_id,
            (ListingStatus.PENDING_REVIEW,),
            ListingStatus.PUBLISHED,
            admin=True,
        )

    @staticmethod
    def _reason(body: ModerationRequest) -> str:
        if not body.reason.strip():
            raise ValidationFailed(
                "A reason is required", [{"field": "reason", "message": "must not be empty"}]
            )
        return body.reason.strip()

    async def reject(
        self, actor: Principal, listing_id: str, body: ModerationRequest
    ) -> ListingOut:
        """Back to draft, with the reason for the creator."""
        return await self._transition(
            actor,
            listing_id,
            (ListingStatus.PENDING_REVIEW,),
            ListingStatus.DRAFT,
            admin=True,
            note=self._reason(body),
        )

    async def remove(
        self, actor: Principal, listing_id: str, body: ModerationRequest
    ) -> ListingOut:
        """Off the marketplace for good: not installable, not visible; installs keep working."""
        return await self._transition(
            actor,
            listing_id,
            (
                ListingStatus.DRAFT,
                ListingStatus.PENDING_REVIEW,
                ListingStatus.PUBLISHED,
                ListingStatus.UNLISTED,
            ),
            ListingStatus.REMOVED,
            admin=True,
            note=self._reason(body),
        )
