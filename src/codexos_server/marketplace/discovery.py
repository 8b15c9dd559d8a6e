"""Finding listings: full-text search, filters, sorts, and a listing's detail page.

Search matches any of the query's words in the title, summary and tags (SQLite FTS5 with
porter stemming, or PostgreSQL's `english` tsvector: "summarize" finds "summarizes").
Sorted lists page by offset (cursors are opaque): a listing whose rank changes between two
page requests may be seen twice or not at all, as in any ranked feed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Select, and_, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import ValidationFailed
from codexos_server.marketplace.listings import ListingService, listing_out, version_out
from codexos_server.marketplace.models import (
    Install,
    Listing,
    ListingStatus,
    ListingVersion,
    PricingModel,
    Purchase,
    Review,
)
from codexos_server.marketplace.reviews import review_out
from codexos_server.marketplace.schemas import (
    Category,
    ListingDetail,
    ListingOut,
    ListingSort,
    ViewerState,
)
from codexos_server.pagination import Page, PageParams, decode_cursor, encode_cursor
from codexos_server.rag.index._sql import fts5_query, keyword_terms, websearch_phrase
from codexos_server.workspaces.permissions import Action

TRENDING_DAYS = 7
RECENT_REVIEWS = 5
MAX_OFFSET = 10**9


def _text_filter(stmt: Select[Any], dialect: str, query: str) -> Select[Any] | None:
    """`stmt` narrowed to listings matching `query`; None when the query has no words."""
    terms = keyword_terms(query)
    if not terms:
        return None
    if dialect == "postgresql":
        tsquery = " or ".join(websearch_phrase(term) for term in terms)
        return stmt.where(
            func.to_tsvector(literal_column("'english'"), Listing.search_text).op("@@")(
                func.websearch_to_tsquery(literal_column("'english'"), tsquery)
            )
        )
    matches = text(
        "SELECT listing_id FROM marketplace_listings_fts "
        "WHERE marketplace_listings_fts MATCH :fts_query"
    )
    return stmt.where(
        Listing.id.in_(
            matches.bindparams(fts_query=fts5_query(terms)).columns(literal_column("listing_id"))
        )
    )


def page_offset(params: PageParams) -> int:
    """Where a page of an offset-paged feed starts. Raises: ValidationFailed."""
    if params.cursor is None:
        return 0
    offset, _ = decode_cursor(params.cursor, as_datetime=False)
    if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise ValidationFailed(
            "Invalid cursor", [{"field": "cursor", "message": "is not a cursor from this API"}]
        )
    return int(offset)


async def _offset_page(
    session: AsyncSession, stmt: Select[Any], params: PageParams, actor: Principal
) -> Page[ListingOut]:
    """One page of an ordered listing query; the cursor is the next page's offset."""
    offset = page_offset(params)
    rows = (await session.scalars(stmt.offset(offset).limit(params.limit + 1))).all()
    more = len(rows) > params.limit
    return Page(
        items=[listing_out(row, actor) for row in rows[: params.limit]],
        next_cursor=encode_cursor(offset + params.limit, "") if more else None,
    )


class DiscoveryService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(
        self,
        actor: Principal,
        params: PageParams,
        *,
        q: str | None = None,
        category: Category | None = None,
        pricing: PricingModel | None = None,
        min_rating: float | None = None,
        creator: str | None = None,
        sort: ListingSort = ListingSort.POPULAR,
    ) -> Page[ListingOut]:
        """Published listings matching every given filter, in the given order."""
        actor.require(Action.READ)
        stmt = select(Listing).where(Listing.status == ListingStatus.PUBLISHED.value)
        if category is not None:
            stmt = stmt.where(Listing.category == category.value)
        if pricing is not None:
            stmt = stmt.where(Listing.pricing_model == pricing.value)
        if min_rating is not None:
            stmt = stmt.where(
                Listing.rating_count > 0, Listing.rating_sum >= min_rating * Listing.rating_count
            )
        if creator is not None:
            stmt = stmt.where(Listing.workspace_id == creator)
        async with self.db.read() as session:
            if q:
                narrowed = _text_filter(stmt, session.get_bind().dialect.name, q)
                if narrowed is None:
                    return Page(items=[])
                stmt = narrowed
            return await _offset_page(session, self._ordered(stmt, sort), params, actor)

    @staticmethod
    def _ordered(stmt: Select[Any], sort: ListingSort) -> Select[Any]:
        newest = (Listing.published_at.desc(), Listing.id.desc())
        if sort is ListingSort.NEWEST:
            return stmt.order_by(*newest)
        if sort is ListingSort.TOP_RATED:
            average = Listing.rating_sum * 1.0 / func.nullif(Listing.rating_count, 0)
            return stmt.order_by(
                func.coalesce(average, 0).desc(), Listing.rating_count.desc(), *newest
            )
        if sort is ListingSort.TRENDING:
            since = utcnow() - timedelta(days=TRENDING_DAYS)
            recent = (
                select(Install.listing_id, func.count().label("recent"))
                .where(Install.created_at >= since)
                .group_by(Install.listing_id)
                .subquery()
            )
            return stmt.outerjoin(recent, recent.c.listing_id == Listing.id).order_by(
                func.coalesce(recent.c.recent, 0).desc(), Listing.install_count.desc(), *newest
            )
        return stmt.order_by(Listing.install_count.desc(), *newest)

    async def mine(self, actor: Principal, params: PageParams) -> Page[ListingOut]:
        """The workspace's own listings in every status, newest first."""
        actor.require(Action.READ)
        stmt = (
            select(Listing)
            .where(Listing.workspace_id == actor.workspace_id)
            .order_by(Listing.created_at.desc(), Listing.id.desc())
        )
        async with self.db.read() as session:
            return await _offset_page(session, stmt, params, actor)

    async def pending(self, actor: Principal, params: PageParams) -> Page[ListingOut]:
        """Admins: listings waiting for review, oldest first."""
        actor.require_admin()
        stmt = (
            select(Listing)
            .where(Listing.status == ListingStatus.PENDING_REVIEW.value)
            .order_by(Listing.updated_at, Listing.id)
        )
        async with self.db.read() as session:
            return await _offset_page(session, stmt, params, actor)

    async def detail(self, actor: Principal, listing_id: str) -> ListingDetail:
        """The listing with its versions, ratings breakdown, recent reviews and what the
        caller's workspace has of it."""
        actor.require(Action.READ)
        async with self.db.read() as session:
            listing = await ListingService.visible(session, actor, listing_id)
            versions = (
                await session.scalars(
                    select(ListingVersion)
                    .where(ListingVersion.listing_id == listing.id)
                    .order_by(ListingVersion.version.desc())
                )
            ).all()
            breakdown = {str(n): 0 for n in range(1, 6)}
            for rating, count in (
                await session.execute(
                    select(Review.rating, func.count())
                    .where(Review.listing_id == listing.id)
                    .group_by(Review.rating)
                )
            ).all():
                breakdown[str(rating)] = count
            recent = (
                await session.scalars(
                    select(Review)
                    .where(Review.listing_id == listing.id)
                    .order_by(Review.created_at.desc(), Review.id.desc())
                    .limit(RECENT_REVIEWS)
                )
            ).all()
            viewer = await self._viewer(session, actor, listing.id)
        return ListingDetail(
            **listing_out(listing, actor).model_dump(),
            versions=[version_out(v) for v in versions],
            ratings_breakdown=breakdown,
            recent_reviews=[review_out(r) for r in recent],
            viewer=viewer,
        )

    @staticmethod
    async def _viewer(session: AsyncSession, actor: Principal, listing_id: str) -> ViewerState:
        install = (
            await session.execute(
                select(Install.id, Install.version).where(
                    Install.workspace_id == actor.workspace_id, Install.listing_id == listing_id
                )
            )
        ).first()
        purchased = await session.scalar(
            select(Purchase.id).where(
                and_(Purchase.workspace_id == actor.workspace_id, Purchase.listing_id == listing_id)
            )
        )
        reviewed = await session.scalar(
            select(Review.id).where(
                Review.listing_id == listing_id, Review.user_id == actor.user_id
            )
        )
        return ViewerState(
            purchased=purchased is not None,
            installed_version=install.version if install else None,
            install_id=install.id if install else None,
            reviewed=reviewed is not None,
        )
