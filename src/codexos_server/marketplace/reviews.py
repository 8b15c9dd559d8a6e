"""Reviews: one per user per listing, after installing it; the creator may reply once.

The listing's rating count and sum are recomputed from the reviews in the transaction that
changes one, after locking the listing row: concurrent reviews of a listing queue on that
lock, and each recount (a new statement, after the lock) sees the ones committed before it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound
from codexos_server.marketplace.models import Install, Listing, ListingStatus, Review
from codexos_server.marketplace.schemas import ReplyCreate, ReviewCreate, ReviewOut, ReviewUpdate
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.workspaces.permissions import Action

VISIBLE = (ListingStatus.PUBLISHED.value, ListingStatus.UNLISTED.value)


def review_out(row: Review) -> ReviewOut:
    return ReviewOut(
        id=row.id,
        listing_id=row.listing_id,
        user_id=row.user_id,
        rating=row.rating,
        body=row.body,
        reply=row.reply,
        replied_at=row.replied_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _locked_listing(session: AsyncSession, actor: Principal, listing_id: str) -> Listing:
    listing = await session.scalar(
        select(Listing)
        .where(Listing.id == listing_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if listing is None or not (
        listing.status in VISIBLE or listing.workspace_id == actor.workspace_id
    ):
        raise NotFound("listing", listing_id)
    return listing


async def _recount(session: AsyncSession, listing: Listing) -> None:
    await session.flush()
    count, total = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Review.rating), 0)).where(
                Review.listing_id == listing.id
            )
        )
    ).one()
    listing.rating_count, listing.rating_sum = int(count), int(total)
    await session.flush()


class ReviewService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, actor: Principal, listing_id: str, body: ReviewCreate) -> ReviewOut:
        """Raises: NotFound, Conflict (not installed, own listing, already reviewed)."""
        actor.require(Action.WRITE)
        try:
            async with self.db.transaction() as session:
                listing = await _locked_listing(session, actor, listing_id)
                if listing.workspace_id == actor.workspace_id:
                    raise Conflict("Creators cannot review their own listing")
                installed = await session.scalar(
                    select(Install.id).where(
                        Install.workspace_id == actor.workspace_id,
                        Install.listing_id == listing.id,
                    )
                )
                if installed is None:
                    raise Conflict(
                        "Install this listing before reviewing it", {"listing_id": listing.id}
                    )
                row = Review(
                    listing_id=listing.id,
                    user_id=actor.user_id,
                    workspace_id=actor.workspace_id,
                    rating=body.rating,
                    body=body.body,
                )
                session.add(row)
                await _recount(session, listing)
                return review_out(row)
        except IntegrityError as exc:
            raise Conflict(
                "You already reviewed this listing; edit your review instead",
                {"listing_id": listing_id},
            ) from exc

    async def list(self, actor: Principal, listing_id: str, params: PageParams) -> Page[ReviewOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            listing = await session.get(Listing, listing_id)
            if listing is None or not (
                listing.status in VISIBLE
                or listing.workspace_id == actor.workspace_id
                or actor.is_admin
            ):
                raise NotFound("listing", listing_id)
            stmt = select(Review).where(Review.listing_id == listing.id)
            rows, cursor = await paginate(session, stmt, params, Review.created_at, Review.id)
            return Page(items=[review_out(r[0]) for r in rows], next_cursor=cursor)

    async def _own(self, session: AsyncSession, actor: Principal, review_id: str) -> Review:
        row = await session.scalar(
            select(Review).where(Review.id == review_id, Review.user_id == actor.user_id)
        )
        if row is None:
            raise NotFound("review", review_id)
        return row

    async def update(self, actor: Principal, review_id: str, body: ReviewUpdate) -> ReviewOut:
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            listing_id = (await self._own(session, actor, review_id)).listing_id
            listing = await _locked_listing(session, actor, listing_id)
            row = await self._own(session, actor, review_id)
            if body.rating is not None:
                row.rating = body.rating
            if body.body is not None:
                row.body = body.body
            row.updated_at = utcnow()
            await _recount(session, listing)
            return review_out(row)

    async def delete(self, actor: Principal, review_id: str) -> None:
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            row = await self._own(session, actor, review_id)
            listing = await session.scalar(
                select(Listing)
                .where(Listing.id == row.listing_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            await session.delete(row)
            if listing is not None:
                await _recount(session, listing)

    async def reply(self, actor: Principal, review_id: str, body: ReplyCreate) -> ReviewOut:
        """The listing's creator answers a review, once. Raises: NotFound, Conflict."""
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            row = await session.scalar(
                select(Review)
                .join(Listing, Listing.id == Review.listing_id)
                .where(Review.id == review_id, Listing.workspace_id == actor.workspace_id)
                .with_for_update(of=Review)
            )
            if row is None:
                raise NotFound("review", review_id)
            if row.reply is not None:
                raise Conflict("This review already has a reply", {"review_id": row.id})
            row.reply = body.body
            row.replied_by = actor.user_id
            row.replied_at = utcnow()
            await session.flush()
            return review_out(row)
