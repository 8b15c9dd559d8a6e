"""Shared helpers: workspaces made directly, funding, purchases, and the ledger invariants."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from codexos_server.billing.ledger import Posted, request_hash
from codexos_server.billing.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)
from codexos_server.container import Container
from codexos_server.workspaces.models import Workspace


async def make_workspaces(container: Container, owner_id: str, count: int) -> list[str]:
    async with container.db.transaction() as session:
        rows = [
            Workspace(name=f"ws-{i}", is_personal=False, owner_id=owner_id) for i in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [r.id for r in rows]


async def fund(container: Container, workspace_id: str, credits: int) -> None:
    ledger = container.ledger
    async with container.db.transaction() as session:
        source = await ledger.external(session, "admin_grant")
        wallet = await ledger.wallet(session, workspace_id)
        await ledger.post(
            session,
            TransactionKind.GRANT,
            [(source, -credits), (wallet, credits)],
            request_hash=request_hash("test-grant", workspace_id, credits),
            workspace_id=workspace_id,
        )


async def purchase(
    container: Container,
    buyer: str,
    creator: str,
    amount: int,
    key: str | None,
    *,
    listing_id: str = "listing-1",
    kind: TransactionKind = TransactionKind.PURCHASE,
) -> Posted:
    async with container.db.transaction() as session:
        return await container.ledger.charge(
            session, buyer, creator, amount, kind, {"listing_id": listing_id}, key
        )


async def balance(container: Container, workspace_id: str) -> int:
    async with container.db.read() as session:
        value = await session.scalar(
            select(LedgerAccount.balance).where(LedgerAccount.key == f"wallet:{workspace_id}")
        )
    return value or 0


async def counts(container: Container) -> tuple[int, int]:
    async with container.db.read() as session:
        txs = await session.scalar(select(func.count()).select_from(LedgerTransaction))
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
    return txs or 0, entries or 0


async def assert_invariants(container: Container) -> dict[str, Any]:
    """Balanced transactions, cached balances equal to the entries, no negative wallet,
    and every account summing to zero. Returns the balances by account key."""
    async with container.db.read() as session:
        unbalanced = (
            await session.execute(
                select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount))
                .group_by(LedgerEntry.transaction_id)
                .having(func.sum(LedgerEntry.amount) != 0)
            )
        ).all()
        assert unbalanced == []
        per_account = await session.execute(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount)).group_by(
                LedgerEntry.account_id
            )
        )
        sums = {account_id: total for account_id, total in per_account.all()}
        accounts = (await session.scalars(select(LedgerAccount))).all()
    for account in accounts:
        assert account.balance == int(sums.get(account.id, 0)), account.key
        if account.kind == AccountKind.WALLET:
            assert account.balance >= 0, account.key
    assert sum(a.balance for a in accounts) == 0
    return {a.key: a.balance for a in accounts}
