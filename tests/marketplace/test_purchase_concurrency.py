"""Purchases of a listing under concurrency, through the marketplace service, on both
backends: 50 buyers at once, 50 retries with one Idempotency-Key, 50 purchases by one
buyer with different keys. The ledger's sum never moves and each purchase is charged once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from codexos_server.agents.schemas import AgentCreate
from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.billing.ledger import fee_for
from codexos_server.billing.models import LedgerTransaction, TransactionKind
from codexos_server.container import Container
from codexos_server.marketplace.models import Purchase
from codexos_server.marketplace.schemas import ListingCreate, Pricing
from codexos_server.workspaces.permissions import WorkspaceRole
from tests.billing.helpers import assert_invariants, balance, fund, make_workspaces

PRICE = 25


def _actor(user_id: str, workspace_id: str, role: str = "user") -> Principal:
    return Principal(
        user_id,
        "buyer@example.com",
        role,
        "free",
        None,
        workspace_id,
        WorkspaceRole.OWNER,
        AuthMethod.SESSION,
    )


@pytest.fixture
async def owner(make_account: Callable[..., Any]) -> str:
    return str((await make_account()).id)


async def _listing(container: Container, owner: str, creator_ws: str) -> str:
    creator = _actor(owner, creator_ws)
    agent = await container.agents.create(creator, AgentCreate(name="Paid"))
    listing = await container.listings.create(
        creator,
        ListingCreate.model_validate(
            {
                "resource_type": "agent",
                "resource_id": agent.id,
                "title": "Paid",
                "pricing": Pricing.model_validate({"model": "one_time", "price": PRICE}),
            }
        ),
    )
    await container.listings.submit(creator, listing.id)
    await container.listings.approve(_actor(owner, creator_ws, "admin"), listing.id)
    return listing.id


async def _purchases(container: Container, listing_id: str) -> int:
    async with container.db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(Purchase).where(Purchase.listing_id == listing_id)
        )
        charges = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == TransactionKind.PURCHASE.value)
        )
    assert count == charges
    return int(count or 0)


async def test_50_concurrent_buyers(container: Container, owner: str) -> None:
    (creator_ws,) = await make_workspaces(container, owner, 1)
    buyers = await make_workspaces(container, owner, 50)
    listing_id = await _listing(container, owner, creator_ws)
    for buyer in buyers:
        await fund(container, buyer, 30)
    results = await asyncio.gather(
        *(container.installs.purchase(_actor(owner, b), listing_id, f"buy-{b}") for b in buyers)
    )
    assert all(created for _, created in results)
    balances = await assert_invariants(container)
    assert all(balances[f"wallet:{b}"] == 30 - PRICE for b in buyers)
    assert balances[f"wallet:{creator_ws}"] == 50 * (PRICE - fee_for(PRICE, 20))
    assert balances["platform_fee"] == 50 * fee_for(PRICE, 20)
    assert await _purchases(container, listing_id) == 50


async def test_50_retries_with_one_key(container: Container, owner: str) -> None:
    creator_ws, buyer = await make_workspaces(container, owner, 2)
    listing_id = await _listing(container, owner, creator_ws)
    await fund(container, buyer, 100)
    actor = _actor(owner, buyer)
    results = await asyncio.gather(
        *(container.installs.purchase(actor, listing_id, "once") for _ in range(50))
    )
    assert len({purchase.id for purchase, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert await balance(container, buyer) == 100 - PRICE
    assert await _purchases(container, listing_id) == 1
    await assert_invariants(container)


async def test_50_purchases_with_different_keys_buy_once(container: Container, owner: str) -> None:
    creator_ws, buyer = await make_workspaces(container, owner, 2)
    listing_id = await _listing(container, owner, creator_ws)
    await fund(container, buyer, 1000)
    actor = _actor(owner, buyer)
    results = await asyncio.gather(
        *(container.installs.purchase(actor, listing_id, f"k-{i}") for i in range(50))
    )
    assert len({purchase.id for purchase, _ in results}) == 1
    assert await balance(container, buyer) == 1000 - PRICE
    assert await _purchases(container, listing_id) == 1
    await assert_invariants(container)
