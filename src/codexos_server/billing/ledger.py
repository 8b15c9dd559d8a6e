"""The double-entry ledger: balanced transactions posted inside the caller's transaction.

Every movement of credits is one `LedgerTransaction` whose entries sum to zero. Posting runs
in the session of the work it pays for (a purchase, a run), so both commit or neither does;
when `post` raises, the caller's transaction must roll back (leaving `Database.transaction()`
with the exception does that).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.billing.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)
from codexos_server.db.base import new_id, utcnow
from codexos_server.errors import Conflict, PaymentRequired, ValidationFailed
from codexos_server.idempotency import request_hash

MAX_AMOUNT = 10**12  # credits in one movement; far below BIGINT, so sums cannot overflow

Leg = tuple[str, int]  # (account id, signed amount)


@dataclass(frozen=True, slots=True)
class Posted:
    transaction: LedgerTransaction
    created: bool  # False: an earlier request with the same idempotency key was returned


def check_amount(amount: int, field: str = "amount") -> None:
    """Raises: ValidationFailed unless 1 <= amount <= MAX_AMOUNT."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise ValidationFailed(
            "Invalid amount",
            [{"field": field, "message": f"must be an integer from 1 to {MAX_AMOUNT}"}],
        )


def fee_for(amount: int, percent: int) -> int:
    """The platform's fee: floor(amount * percent / 100), in integers only."""
    return amount * percent // 100


def _merged(legs: Iterable[Leg]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for account_id, amount in legs:
        if isinstance(amount, bool) or not isinstance(amount, int) or abs(amount) > MAX_AMOUNT:
            raise ValueError(f"leg amount {amount!r} is not an integer within the bounds")
        totals[account_id] += amount
    merged = {account_id: amount for account_id, amount in totals.items() if amount != 0}
    if not merged:
        raise ValueError("a transaction needs at least one non-zero leg")
    if sum(merged.values()) != 0:
        raise ValueError(f"legs do not balance: {sorted(merged.items())}")
    return merged


class Ledger:
    """Accounts and postings. Methods take the caller's session and never commit."""

    def __init__(self, fee_percent: int) -> None:
        self.fee_percent = fee_percent

    # -- accounts ----------------------------------------------------------------------------

    async def _account(
        self, session: AsyncSession, key: str, kind: AccountKind, workspace_id: str | None
    ) -> str:
        values = {
            "id": new_id(),
            "key": key,
            "kind": kind.value,
            "workspace_id": workspace_id,
            "balance": 0,
            "created_at": utcnow(),
            "updated_at": utcnow(),
        }
        existing = await session.scalar(select(LedgerAccount.id).where(LedgerAccount.key == key))
        if existing is not None:
            return existing
        # Two first uses can race to create the account: the loser does nothing and reads.
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            await session.execute(
                pg_insert(LedgerAccount)
                .values(values)
                .on_conflict_do_nothing(index_elements=["key"])
            )
        else:
            await session.execute(
                sqlite_insert(LedgerAccount)
                .values(values)
                .on_conflict_do_nothing(index_elements=["key"])
            )
        account_id = await session.scalar(select(LedgerAccount.id).where(LedgerAccount.key == key))
        assert account_id is not None
        return account_id

    async def wallet(self, session: AsyncSession, workspace_id: str) -> str:
        """The workspace's wallet account id (created on first use)."""
        return await self._account(
            session, f"wallet:{workspace_id}", AccountKind.WALLET, workspace_id
        )

    async def platform_fee(self, session: AsyncSession) -> str:
        """The platform fee account id."""
        return await self._account(session, "platform_fee", AccountKind.PLATFORM_FEE, None)

    async def external(self, session: AsyncSession, provider: str) -> str:
        """The account money enters from: one per provider (`stripe`, `admin_grant`)."""
        return await self._account(session, f"external:{provider}", AccountKind.EXTERNAL, None)

    # -- posting -----------------------------------------------------------------------------

    async def _by_key(
        self, session: AsyncSession, scope: str, key: str
    ) -> LedgerTransaction | None:
        return await session.scalar(
            select(LedgerTransaction)
            .where(
                LedgerTransaction.idempotency_scope == scope,
                LedgerTransaction.idempotency_key == key,
            )
            .execution_options(populate_existing=True)
        )

    @staticmethod
    def _replay(existing: LedgerTransaction, request_hash: str) -> Posted:
        if existing.request_hash != request_hash:
            raise Conflict(
                "This Idempotency-Key was already used for a different request",
                {"transaction_id": existing.id},
            )
        return Posted(existing, created=False)

    async def post(
        self,
        session: AsyncSession,
        kind: TransactionKind,
        legs: Iterable[Leg],
        *,
        request_hash: str,
        workspace_id: str | None = None,
        created_by: str | None = None,
        idempotency_scope: str | None = None,
        idempotency_key: str | None = None,
        reference: dict[str, Any] | None = None,
        refund_of: str | None = None,
        amount: int | None = None,
    ) -> Posted:
        """Write one balanced transaction and move the cached balances.

        Legs on the same account are merged. The same (scope, key) with the same request hash
        returns the earlier transaction and writes nothing.
        Raises: PaymentRequired (a wallet would go negative; nothing is written),
        Conflict (the key was used for another request), ValueError (unbalanced legs).
        """
        merged = _merged(legs)
        keyed = idempotency_key is not None and idempotency_scope is not None
        scope, key = (idempotency_scope or "", idempotency_key or "")
        # Lock the touched accounts in id order (no deadlocks between opposite transfers).
        # SQLite has no row locks; its single writer already serialises postings.
        accounts = (
            await session.scalars(
                select(LedgerAccount)
                .where(LedgerAccount.id.in_(merged))
                .order_by(LedgerAccount.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
        if len(accounts) != len(merged):
            raise ValueError("a leg names an unknown account")
        # Looked up after the locks: a concurrent retry that held them has committed by now.
        if keyed:
            existing = await self._by_key(session, scope, key)
            if existing is not None:
                return self._replay(existing, request_hash)
        for account in accounts:
            delta = merged[account.id]
            if account.kind == AccountKind.WALLET and account.balance + delta < 0:
                raise PaymentRequired(
                    "Insufficient credits",
                    {
                        "workspace_id": account.workspace_id,
                        "balance": account.balance,
                        "required": -delta,
                    },
                )
        tx = LedgerTransaction(
            id=new_id(),
            kind=kind.value,
            workspace_id=workspace_id,
            created_by=created_by,
            amount=amount if amount is not None else sum(a for a in merged.values() if a > 0),
            idempotency_scope=idempotency_scope if keyed else None,
            idempotency_key=idempotency_key if keyed else None,
            request_hash=request_hash,
            reference=dict(reference or {}),
            refund_of=refund_of,
            created_at=utcnow(),
        )
        try:
            async with session.begin_nested():
                session.add(tx)
                await session.flush()
        except IntegrityError:
            if not keyed:
                raise
            existing = await self._by_key(session, scope, key)
            if existing is None:
                raise
            return self._replay(existing, request_hash)
        for account in accounts:
            await session.execute(
                update(LedgerAccount)
                .where(LedgerAccount.id == account.id)
                .values(balance=LedgerAccount.balance + merged[account.id], updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        session.add_all(
            LedgerEntry(transaction_id=tx.id, account_id=account_id, amount=amount)
            for account_id, amount in sorted(merged.items())
        )
        await session.flush()
        return Posted(tx, created=True)

    async def charge(
        self,
        session: AsyncSession,
        payer_workspace_id: str,
        payee_workspace_id: str,
        amount: int,
        kind: TransactionKind,
        reference: dict[str, Any],
        idempotency_key: str | None,
        *,
        created_by: str | None = None,
    ) -> Posted:
        """Move `amount` from the payer's wallet: the payee gets it less the platform fee.

        Keys are scoped to the payer's workspace. For purchases and per-run charges, posted
        in the session of the work paid for.
        Raises: ValidationFailed (amount), PaymentRequired, Conflict (key reused).
        """
        if kind not in (TransactionKind.PURCHASE, TransactionKind.RUN_CHARGE):
            raise ValueError(f"charge posts purchases and run charges, not {kind}")
        check_amount(amount)
        fee = fee_for(amount, self.fee_percent)
        payer = await self.wallet(session, payer_workspace_id)
        payee = await self.wallet(session, payee_workspace_id)
        fee_account = await self.platform_fee(session)
        return await self.post(
            session,
            kind,
            [(payer, -amount), (payee, amount - fee), (fee_account, fee)],
            # The fee is left out: a retry after a fee change is still the same request.
            request_hash=request_hash(
                kind.value, payer_workspace_id, payee_workspace_id, amount, reference
            ),
            workspace_id=payer_workspace_id,
            created_by=created_by,
            idempotency_scope=payer_workspace_id,
            idempotency_key=idempotency_key,
            reference=reference,
            amount=amount,
        )
