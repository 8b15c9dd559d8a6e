"""Billing: the wallet, its history, creator earnings, admin grants and refunds, top-ups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.billing.ledger import MAX_AMOUNT, Ledger
from codexos_server.billing.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)
from codexos_server.billing.payments import PaymentProvider
from codexos_server.billing.schemas import (
    CheckoutCreate,
    CheckoutOut,
    EarningsBucket,
    EarningsOut,
    EntryOut,
    GrantCreate,
    RefundCreate,
    TransactionOut,
    WalletOut,
    WebhookAck,
)
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import (
    Conflict,
    NotFound,
    PaymentRequired,
    ServiceUnavailable,
    ValidationFailed,
)
from codexos_server.idempotency import request_hash
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.workspaces.models import Workspace
from codexos_server.workspaces.permissions import Action

log = structlog.get_logger(__name__)

EARNING_KINDS = (TransactionKind.PURCHASE.value, TransactionKind.RUN_CHARGE.value)
GRANT_PROVIDER = "admin_grant"
Period = Literal["day", "month"]


async def _views(
    session: AsyncSession, txs: list[LedgerTransaction], account_id: str | None
) -> list[TransactionOut]:
    """Transactions with their entries (only `account_id`'s when given) and refunds."""
    ids = [tx.id for tx in txs]
    if not ids:
        return []
    stmt = (
        select(LedgerEntry, LedgerAccount.kind, LedgerAccount.workspace_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.transaction_id.in_(ids))
        .order_by(LedgerEntry.amount)
    )
    if account_id is not None:
        stmt = stmt.where(LedgerEntry.account_id == account_id)
    entries: dict[str, list[EntryOut]] = defaultdict(list)
    for entry, kind, workspace_id in (await session.execute(stmt)).all():
        entries[entry.transaction_id].append(
            EntryOut(
                account_id=entry.account_id,
                account_kind=kind,
                workspace_id=workspace_id,
                amount=entry.amount,
            )
        )
    refunded = await session.execute(
        select(LedgerTransaction.refund_of, LedgerTransaction.id).where(
            LedgerTransaction.refund_of.in_(ids)
        )
    )
    refunds = {original: refund for original, refund in refunded.all()}
    return [
        TransactionOut(
            id=tx.id,
            kind=tx.kind,
            amount=tx.amount,
            workspace_id=tx.workspace_id,
            reference=tx.reference or {},
            refund_of=tx.refund_of,
            refunded_by=refunds.get(tx.id),
            created_at=tx.created_at,
            entries=entries[tx.id],
        )
        for tx in txs
    ]


class BillingService:
    def __init__(self, db: Database, ledger: Ledger, providers: dict[str, PaymentProvider]) -> None:
        self.db = db
        self.ledger = ledger
        self.providers = providers
        # Called in the refund's transaction with the refunded transaction (the marketplace
        # revokes a refunded purchase).
        self.refund_hooks: list[Callable[[AsyncSession, LedgerTransaction], Awaitable[None]]] = []

    @staticmethod
    async def _wallet_id(session: AsyncSession, workspace_id: str) -> str | None:
        return await session.scalar(
            select(LedgerAccount.id).where(LedgerAccount.key == f"wallet:{workspace_id}")
        )

    async def wallet(self, actor: Principal) -> WalletOut:
        """The balance of the caller's workspace wallet (0 before its first movement)."""
        actor.require(Action.READ)
        async with self.db.read() as session:
            balance = await session.scalar(
                select(LedgerAccount.balance).where(
                    LedgerAccount.key == f"wallet:{actor.workspace_id}"
                )
            )
        return WalletOut(workspace_id=actor.workspace_id, balance=balance or 0)

    async def transactions(self, actor: Principal, params: PageParams) -> Page[TransactionOut]:
        """The movements of the caller's wallet, newest first, each with its wallet entry."""
        actor.require(Action.READ)
        async with self.db.read() as session:
            wallet_id = await self._wallet_id(session, actor.workspace_id)
            if wallet_id is None:
                return Page(items=[], next_cursor=None)
            stmt = (
                select(LedgerTransaction)
                .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
                .where(LedgerEntry.account_id == wallet_id)
            )
            rows, cursor = await paginate(
                session, stmt, params, LedgerTransaction.created_at, LedgerTransaction.id
            )
            items = await _views(session, [r[0] for r in rows], wallet_id)
            return Page(items=items, next_cursor=cursor)

    async def transaction(self, actor: Principal, transaction_id: str) -> TransactionOut:
        """One movement of the caller's wallet. Raises: NotFound (also for other wallets')."""
        actor.require(Action.READ)
        async with self.db.read() as session:
            wallet_id = await self._wallet_id(session, actor.workspace_id)
            tx = await session.scalar(
                select(LedgerTransaction)
                .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
                .where(LedgerTransaction.id == transaction_id, LedgerEntry.account_id == wallet_id)
            )
            if tx is None or wallet_id is None:
                raise NotFound("transaction", transaction_id)
            return (await _views(session, [tx], wallet_id))[0]

    async def grant(
        self, actor: Principal, body: GrantCreate, idempotency_key: str | None
    ) -> TransactionOut:
        """Credit a workspace from the `admin_grant` account (self-hosted top-ups).

        Raises: AuthorizationFailed (not an admin), NotFound (workspace), Conflict (key reused).
        """
        actor.require_admin()
        async with self.db.transaction() as session:
            if await session.get(Workspace, body.workspace_id) is None:
                raise NotFound("workspace", body.workspace_id)
            source = await self.ledger.external(session, GRANT_PROVIDER)
            wallet = await self.ledger.wallet(session, body.workspace_id)
            posted = await self.ledger.post(
                session,
                TransactionKind.GRANT,
                [(source, -body.credits), (wallet, body.credits)],
                request_hash=request_hash("grant", body.workspace_id, body.credits, body.reason),
                workspace_id=body.workspace_id,
                created_by=actor.user_id,
                idempotency_scope=GRANT_PROVIDER,
                idempotency_key=idempotency_key,
                reference={"reason": body.reason, "granted_by": actor.user_id},
            )
            return (await _views(session, [posted.transaction], None))[0]

    async def refund(
        self, actor: Principal, transaction_id: str, body: RefundCreate
    ) -> TransactionOut:
        """Post the reversing entries of a transaction, once.

        Raises: AuthorizationFailed (not an admin), NotFound, Conflict (a refund, already
        refunded, or a credited wallet that no longer covers the reversal).
        """
        actor.require_admin()
        async with self.db.transaction() as session:
            original = await session.get(LedgerTransaction, transaction_id)
            if original is None:
                raise NotFound("transaction", transaction_id)
            if original.kind == TransactionKind.REFUND:
                raise Conflict("A refund cannot be refunded", {"transaction_id": original.id})
            done = await session.scalar(
                select(LedgerTransaction.id).where(LedgerTransaction.refund_of == original.id)
            )
            if done is not None:
                raise Conflict("This transaction was already refunded", {"refund_id": done})
            entries = (
                await session.scalars(
                    select(LedgerEntry).where(LedgerEntry.transaction_id == original.id)
                )
            ).all()
            try:
                posted = await self.ledger.post(
                    session,
                    TransactionKind.REFUND,
                    [(e.account_id, -e.amount) for e in entries],
                    request_hash=request_hash("refund", original.id),
                    workspace_id=original.workspace_id,
                    created_by=actor.user_id,
                    # One refund per transaction, also when two admins race.
                    idempotency_scope="refund",
                    idempotency_key=original.id,
                    reference={
                        **(original.reference or {}),
                        "refunded_kind": original.kind,
                        "reason": body.reason,
                    },
                    refund_of=original.id,
                    amount=original.amount,
                )
            except PaymentRequired as exc:
                raise Conflict(
                    "A credited wallet no longer holds enough credits for this refund",
                    exc.details,
                ) from exc
            if not posted.created:
                raise Conflict(
                    "This transaction was already refunded",
                    {"refund_id": posted.transaction.id},
                )
            for hook in self.refund_hooks:
                await hook(session, original)
            return (await _views(session, [posted.transaction], None))[0]

    async def earnings(
        self,
        actor: Principal,
        period: Period,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> EarningsOut:
        """Net credits the caller's wallet received from purchases and run charges, by
        period (UTC) and listing; refunds of those are subtracted. Raises: ValidationFailed."""
        actor.require(Action.READ)
        until = until or utcnow()
        since = since or until - timedelta(days=30 if period == "day" else 365)
        if since.tzinfo is None or until.tzinfo is None:
            raise ValidationFailed(
                "Times need a timezone", [{"field": "since", "message": "e.g. 2026-01-01T00:00Z"}]
            )
        if since >= until:
            raise ValidationFailed(
                "Empty range", [{"field": "since", "message": "must be before until"}]
            )
        async with self.db.read() as session:
            wallet_id = await self._wallet_id(session, actor.workspace_id)
            rows: list[Any] = []
            if wallet_id is not None:
                rows = list(
                    (
                        await session.execute(
                            select(
                                LedgerEntry.amount,
                                LedgerTransaction.kind,
                                LedgerTransaction.reference,
                                LedgerTransaction.created_at,
                            )
                            .join(
                                LedgerTransaction,
                                LedgerTransaction.id == LedgerEntry.transaction_id,
                            )
                            .where(
                                LedgerEntry.account_id == wallet_id,
                                LedgerTransaction.kind.in_(
                                    [*EARNING_KINDS, TransactionKind.REFUND.value]
                                ),
                                LedgerTransaction.created_at >= since,
                                LedgerTransaction.created_at < until,
                            )
                        )
                    ).all()
                )
        fmt = "%Y-%m-%d" if period == "day" else "%Y-%m"
        sums: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0])
        for amount, kind, reference, created_at in rows:
            reference = reference or {}
            received = kind in EARNING_KINDS and amount > 0
            reversed_ = (
                kind == TransactionKind.REFUND
                and reference.get("refunded_kind") in EARNING_KINDS
                and amount < 0
            )
            if not (received or reversed_):
                continue
            listing = reference.get("listing_id")
            key = (created_at.strftime(fmt), listing if isinstance(listing, str) else None)
            sums[key][0] += amount
            sums[key][1] += 1
        buckets = [
            EarningsBucket(period_start=p, listing_id=lid, credits=c, transactions=n)
            for (p, lid), (c, n) in sorted(
                sums.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""), reverse=True
            )
        ]
        return EarningsOut(
            period=period,
            since=since,
            until=until,
            total=sum(b.credits for b in buckets),
            buckets=buckets,
        )

    def _provider(self, name: str) -> PaymentProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise ServiceUnavailable(
                f"Payments through {name!r} are not configured on this server",
                {"provider": name},
            )
        return provider

    async def checkout(self, actor: Principal, body: CheckoutCreate) -> CheckoutOut:
        """A Stripe Checkout page that tops up the caller's wallet once paid.

        Raises: ServiceUnavailable (Stripe not configured or unreachable), ValidationFailed.
        """
        actor.require(Action.WRITE)
        provider = self._provider("stripe")
        session = await provider.create_checkout(
            actor.workspace_id, body.credits, str(body.success_url), str(body.cancel_url)
        )
        return CheckoutOut(
            url=session.url,
            session_id=session.session_id,
            credits=body.credits,
            amount_cents=session.amount_cents,
        )

    async def receive_webhook(
        self, provider_name: str, payload: bytes, signature_header: str
    ) -> WebhookAck:
        """Verify a provider's delivery and credit the paid credits once per payment.

        Raises: ServiceUnavailable (not configured), AuthenticationFailed (bad signature),
        ValidationFailed (unreadable payload).
        """
        provider = self._provider(provider_name)
        event = provider.parse_webhook(payload, signature_header)
        if event is None:
            return WebhookAck(credited=False)
        if not 0 < event.credits <= MAX_AMOUNT:
            log.warning("payment_credits_out_of_range", event_id=event.event_id)
            return WebhookAck(credited=False)
        async with self.db.transaction() as session:
            if await session.get(Workspace, event.workspace_id) is None:
                log.warning("payment_for_unknown_workspace", event_id=event.event_id)
                return WebhookAck(credited=False)
            source = await self.ledger.external(session, provider.name)
            wallet = await self.ledger.wallet(session, event.workspace_id)
            posted = await self.ledger.post(
                session,
                TransactionKind.TOPUP,
                [(source, -event.credits), (wallet, event.credits)],
                request_hash=request_hash(
                    "topup", provider.name, event.payment_id, event.workspace_id, event.credits
                ),
                workspace_id=event.workspace_id,
                # Keyed by the payment, not the delivery: a redelivered or second event for
                # the same checkout session credits nothing more.
                idempotency_scope=provider.name,
                idempotency_key=event.payment_id,
                reference={
                    "provider": provider.name,
                    "payment_id": event.payment_id,
                    "event_id": event.event_id,
                },
            )
            return WebhookAck(credited=posted.created)
