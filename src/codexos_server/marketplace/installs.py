"""Buying and installing listings, updating installs, and charging per-run listings.

A one-time purchase is one ledger charge and one `Purchase` row in one transaction: a retry
with the same Idempotency-Key replays the ledger transaction, and a second purchase with any
key finds the row (the unique (workspace, listing) makes concurrent ones collide, and the
loser's charge rolls back with it). A workspace installs its own listings without paying.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.agents.models import Agent, Run
from codexos_server.auth.principal import Principal
from codexos_server.billing.ledger import Ledger
from codexos_server.billing.models import LedgerAccount, LedgerTransaction, TransactionKind
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound, PaymentRequired, PurchaseRequired
from codexos_server.marketplace.listings import ListingService
from codexos_server.marketplace.models import (
    Install,
    Listing,
    ListingStatus,
    ListingVersion,
    PricingModel,
    Purchase,
)
from codexos_server.marketplace.packages import Installer
from codexos_server.marketplace.schemas import (
    InstallCreate,
    InstallOut,
    InstallResult,
    InstallUpdateRequest,
    PurchaseOut,
)
from codexos_server.marketplace.updates import update_resource
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.workflows.models import Workflow
from codexos_server.workspaces.permissions import Action


def install_out(row: Install, latest_version: int) -> InstallOut:
    return InstallOut(
        id=row.id,
        listing_id=row.listing_id,
        version=row.version,
        latest_version=latest_version,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        created_resources=dict(row.created_resources or {}),
        price_per_run=row.price_per_run,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def purchase_out(row: Purchase) -> PurchaseOut:
    return PurchaseOut(
        id=row.id,
        listing_id=row.listing_id,
        price=row.price,
        transaction_id=row.transaction_id,
        created_at=row.created_at,
    )


async def _version(session: AsyncSession, listing: Listing, version: int | None) -> ListingVersion:
    number = version or listing.latest_version
    row = await session.scalar(
        select(ListingVersion).where(
            ListingVersion.listing_id == listing.id, ListingVersion.version == number
        )
    )
    if row is None:
        raise NotFound("listing version", str(number))
    return row


async def _resource_exists(session: AsyncSession, row: Install) -> bool:
    table = Agent if row.resource_type == "agent" else Workflow
    found = await session.scalar(
        select(table.id).where(table.id == row.resource_id, table.workspace_id == row.workspace_id)
    )
    return found is not None


def _installable(listing: Listing, actor: Principal) -> None:
    """Raises: Conflict for a removed listing, or another workspace's unpublished one."""
    if listing.status == ListingStatus.REMOVED.value:
        raise Conflict("This listing was removed from the marketplace", {"status": "removed"})
    own = listing.workspace_id == actor.workspace_id
    if not own and listing.status not in (
        ListingStatus.PUBLISHED.value,
        ListingStatus.UNLISTED.value,
    ):
        raise NotFound("listing", listing.id)


class InstallService:
    def __init__(self, db: Database, ledger: Ledger) -> None:
        self.db = db
        self.ledger = ledger

    # -- purchases ---------------------------------------------------------------------------

    async def purchase(
        self, actor: Principal, listing_id: str, idempotency_key: str | None
    ) -> tuple[PurchaseOut, bool]:
        """Buy a one-time listing for the workspace; (purchase, created).
        Raises: NotFound, Conflict (not for sale, own listing, key reused), PaymentRequired."""
        actor.require(Action.WRITE)
        try:
            async with self.db.transaction() as session:
                listing = await ListingService.visible(session, actor, listing_id)
                _installable(listing, actor)
                if listing.pricing_model != PricingModel.ONE_TIME.value:
                    raise Conflict(
                        f"A {listing.pricing_model} listing is not bought; install it",
                        {"pricing_model": listing.pricing_model},
                    )
                if listing.workspace_id == actor.workspace_id:
                    raise Conflict("This is your own listing; install it without buying")
                existing = await self._purchase_of(session, actor.workspace_id, listing.id)
                if existing is not None:
                    return purchase_out(existing), False
                posted = await self.ledger.charge(
                    session,
                    actor.workspace_id,
                    listing.workspace_id,
                    listing.price,
                    TransactionKind.PURCHASE,
                    {"listing_id": listing.id},
                    idempotency_key,
                    created_by=actor.user_id,
                )
                row = Purchase(
                    workspace_id=actor.workspace_id,
                    listing_id=listing.id,
                    purchased_by=actor.user_id,
                    transaction_id=posted.transaction.id,
                    price=listing.price,
                )
                session.add(row)
                await session.flush()
                return purchase_out(row), True
        except IntegrityError:
            # A concurrent purchase of the same listing committed first; ours rolled back.
            async with self.db.read() as session:
                existing = await self._purchase_of(session, actor.workspace_id, listing_id)
            if existing is None:
                raise
            return purchase_out(existing), False

    @staticmethod
    async def _purchase_of(
        session: AsyncSession, workspace_id: str, listing_id: str
    ) -> Purchase | None:
        return await session.scalar(
            select(Purchase).where(
                Purchase.workspace_id == workspace_id, Purchase.listing_id == listing_id
            )
        )

    async def purchases(self, actor: Principal, params: PageParams) -> Page[PurchaseOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            stmt = select(Purchase).where(Purchase.workspace_id == actor.workspace_id)
            rows, cursor = await paginate(session, stmt, params, Purchase.created_at, Purchase.id)
            return Page(items=[purchase_out(r[0]) for r in rows], next_cursor=cursor)

    # -- installs ----------------------------------------------------------------------------

    async def install(
        self, actor: Principal, listing_id: str, body: InstallCreate
    ) -> InstallResult:
        """Clone a listing version into the workspace.
        Raises: NotFound, Conflict (removed, already installed), PurchaseRequired."""
        actor.require(Action.WRITE)
        try:
            async with self.db.transaction() as session:
                return await self._install(session, actor, listing_id, body)
        except IntegrityError as exc:
            raise Conflict("This listing is already installed in the workspace") from exc

    async def _install(
        self, session: AsyncSession, actor: Principal, listing_id: str, body: InstallCreate
    ) -> InstallResult:
        listing = await ListingService.visible(session, actor, listing_id)
        _installable(listing, actor)
        own = listing.workspace_id == actor.workspace_id
        paid = listing.pricing_model == PricingModel.ONE_TIME.value and not own
        if paid and await self._purchase_of(session, actor.workspace_id, listing.id) is None:
            raise PurchaseRequired(
                "Buy this listing before installing it",
                {"listing_id": listing.id, "price": listing.price},
            )
        version = await _version(session, listing, body.version)
        previous = await session.scalar(
            select(Install).where(
                Install.workspace_id == actor.workspace_id, Install.listing_id == listing.id
            )
        )
        if previous is not None:
            if await _resource_exists(session, previous):
                raise Conflict(
                    "This listing is already installed in the workspace; update the install",
                    {"install_id": previous.id},
                )
            await session.delete(previous)  # its agent/workflow was deleted: install afresh
            await session.flush()
        installer = Installer(
            session, actor.workspace_id, actor.user_id, listing.id, version.version
        )
        created = await installer.install(version.package, body.name)
        per_run = listing.pricing_model == PricingModel.PER_RUN.value and not own
        row = Install(
            workspace_id=actor.workspace_id,
            listing_id=listing.id,
            installed_by=actor.user_id,
            version=version.version,
            resource_type=created.resource_type,
            resource_id=created.resource_id,
            created_resources=created.resources,
            price_per_run=listing.price if per_run else 0,
        )
        session.add(row)
        await session.flush()
        if previous is None:
            await session.execute(
                update(Listing)
                .where(Listing.id == listing.id)
                .values(install_count=Listing.install_count + 1)
                .execution_options(synchronize_session=False)
            )
        return InstallResult(
            **install_out(row, listing.latest_version).model_dump(),
            setup_required=created.setup_required,
        )

    async def _owned(self, session: AsyncSession, actor: Principal, install_id: str) -> Install:
        row = await session.scalar(
            select(Install).where(
                Install.id == install_id, Install.workspace_id == actor.workspace_id
            )
        )
        if row is None:
            raise NotFound("install", install_id)
        return row

    async def list(self, actor: Principal, params: PageParams) -> Page[InstallOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            stmt = (
                select(Install, Listing.latest_version)
                .join(Listing, Listing.id == Install.listing_id)
                .where(Install.workspace_id == actor.workspace_id)
            )
            rows, cursor = await paginate(session, stmt, params, Install.created_at, Install.id)
            return Page(items=[install_out(r[0], r[1]) for r in rows], next_cursor=cursor)

    async def get(self, actor: Principal, install_id: str) -> InstallOut:
        actor.require(Action.READ)
        async with self.db.read() as session:
            row = await self._owned(session, actor, install_id)
            listing = await session.get_one(Listing, row.listing_id)
            return install_out(row, listing.latest_version)

    async def update(
        self, actor: Principal, install_id: str, body: InstallUpdateRequest
    ) -> InstallResult:
        """Move an install to another version (default the latest), keeping the settings the
        workspace changed since installing. Per-run installs take the listing's current price.
        Raises: NotFound, Conflict (removed listing, deleted agent/workflow)."""
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            row = await self._owned(session, actor, install_id)
            listing = await session.get_one(Listing, row.listing_id)
            if listing.status == ListingStatus.REMOVED.value:
                raise Conflict("This listing was removed; its versions cannot be installed")
            if not await _resource_exists(session, row):
                raise Conflict(
                    f"The installed {row.resource_type} was deleted; install the listing again"
                )
            base = await _version(session, listing, row.version)
            target = await _version(session, listing, body.version)
            installer = Installer(
                session, actor.workspace_id, actor.user_id, listing.id, target.version
            )
            outcome = await update_resource(installer, row, base.package, target.package)
            row.version = target.version
            row.created_resources = outcome.resources
            own = listing.workspace_id == actor.workspace_id
            if listing.pricing_model == PricingModel.PER_RUN.value and not own:
                row.price_per_run = listing.price
            await session.flush()
            return InstallResult(
                **install_out(row, listing.latest_version).model_dump(),
                setup_required=outcome.setup_required,
                kept=outcome.kept,
            )

    async def installed(
        self, session: AsyncSession, workspace_id: str, listing_id: str
    ) -> Install | None:
        return await session.scalar(
            select(Install).where(
                Install.workspace_id == workspace_id, Install.listing_id == listing_id
            )
        )


async def revoke_refunded_purchase(session: AsyncSession, refunded: LedgerTransaction) -> None:
    """A refunded purchase is no longer owned: installing again means buying again (what
    was installed stays)."""
    if refunded.kind == TransactionKind.PURCHASE.value:
        await session.execute(delete(Purchase).where(Purchase.transaction_id == refunded.id))


class PerRunCharges:
    """The agents' RunCharges port: per-run listings installed in a workspace."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @staticmethod
    async def _priced(session: AsyncSession, workspace_id: str, agent_id: str) -> Any:
        return (
            await session.execute(
                select(Install.listing_id, Install.price_per_run, Listing.workspace_id)
                .join(Listing, Listing.id == Install.listing_id)
                .where(
                    Install.workspace_id == workspace_id,
                    Install.resource_id == agent_id,
                    Install.price_per_run > 0,
                )
            )
        ).first()

    async def check(self, session: AsyncSession, workspace_id: str, agent_id: str) -> None:
        priced = await self._priced(session, workspace_id, agent_id)
        if priced is None:
            return
        balance = await session.scalar(
            select(LedgerAccount.balance).where(LedgerAccount.key == f"wallet:{workspace_id}")
        )
        if (balance or 0) < priced.price_per_run:
            raise PaymentRequired(
                "Insufficient credits for a run of this agent",
                {
                    "workspace_id": workspace_id,
                    "balance": balance or 0,
                    "required": priced.price_per_run,
                    "listing_id": priced.listing_id,
                },
            )

    async def charge(self, session: AsyncSession, run: Run) -> None:
        priced = await self._priced(session, run.workspace_id, run.agent_id)
        if priced is None:
            return
        await self.ledger.charge(
            session,
            run.workspace_id,
            priced.workspace_id,
            priced.price_per_run,
            TransactionKind.RUN_CHARGE,
            {"listing_id": priced.listing_id, "run_id": run.id, "agent_id": run.agent_id},
            f"run:{run.id}",
            created_by=run.user_id,
        )
