"""The ledger core: balanced postings, fees, idempotency and concurrency, on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from codexos_server.billing.ledger import MAX_AMOUNT, fee_for, request_hash
from codexos_server.billing.models import TransactionKind
from codexos_server.container import Container
from codexos_server.errors import Conflict, PaymentRequired, ValidationFailed
from tests.billing.helpers import (
    assert_invariants,
    balance,
    counts,
    fund,
    make_workspaces,
    purchase,
)


@pytest.fixture
async def owner(make_account: Callable[..., Any]) -> str:
    account = await make_account()
    return str(account.id)


def test_fee_is_floored_integers() -> None:
    assert fee_for(99, 20) == 19
    assert fee_for(1, 20) == 0
    assert fee_for(MAX_AMOUNT, 20) == MAX_AMOUNT // 5


async def test_charge_splits_between_creator_and_platform(container: Container, owner: str) -> None:
    buyer, creator = await make_workspaces(container, owner, 2)
    await fund(container, buyer, 100)
    posted = await purchase(container, buyer, creator, 99, "k1")
    assert posted.created and posted.transaction.amount == 99
    assert await balance(container, buyer) == 1
    assert await balance(container, creator) == 80
    balances = await assert_invariants(container)
    assert balances["platform_fee"] == 19
    assert balances["external:admin_grant"] == -100


async def test_insufficient_credits_refused_and_nothing_written(
    container: Container, owner: str
) -> None:
    buyer, creator = await make_workspaces(container, owner, 2)
    await fund(container, buyer, 5)
    before = await counts(container)
    with pytest.raises(PaymentRequired) as info:
        await purchase(container, buyer, creator, 10, "k")
    assert info.value.code == "INSUFFICIENT_CREDITS"
    assert info.value.details["balance"] == 5
    assert await counts(container) == before
    assert await balance(container, buyer) == 5
    assert await balance(container, creator) == 0
    # A buyer that never had a wallet is refused too.
    (empty,) = await make_workspaces(container, owner, 1)
    with pytest.raises(PaymentRequired):
        await purchase(container, empty, creator, 1, None)
    assert await counts(container) == before
    await assert_invariants(container)


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT + 1])
async def test_bad_amounts_are_validation_errors(
    container: Container, owner: str, amount: int
) -> None:
    buyer, creator = await make_workspaces(container, owner, 2)
    with pytest.raises(ValidationFailed):
        await purchase(container, buyer, creator, amount, None)


async def test_unbalanced_legs_are_a_programming_error(container: Container, owner: str) -> None:
    (ws,) = await make_workspaces(container, owner, 1)
    async with container.db.transaction() as session:
        wallet = await container.ledger.wallet(session, ws)
        fee = await container.ledger.platform_fee(session)
        with pytest.raises(ValueError, match="balance"):
            await container.ledger.post(
                session, TransactionKind.GRANT, [(wallet, 5), (fee, -4)], request_hash="x"
            )


async def test_same_key_replays_and_other_request_conflicts(
    container: Container, owner: str
) -> None:
    buyer, creator = await make_workspaces(container, owner, 2)
    await fund(container, buyer, 100)
    first = await purchase(container, buyer, creator, 10, "same")
    again = await purchase(container, buyer, creator, 10, "same")
    assert again.transaction.id == first.transaction.id and not again.created
    with pytest.raises(Conflict):
        await purchase(container, buyer, creator, 11, "same")
    assert await balance(container, buyer) == 90
    # Keys are scoped to the payer: another buyer may use the same key.
    (other,) = await make_workspaces(container, owner, 1)
    await fund(container, other, 10)
    assert (await purchase(container, other, creator, 10, "same")).created
    await assert_invariants(container)


async def test_50_concurrent_purchases_by_different_buyers(
    container: Container, owner: str
) -> None:
    buyers = await make_workspaces(container, owner, 50)
    (creator,) = await make_workspaces(container, owner, 1)
    for buyer in buyers:
        await fund(container, buyer, 30)
    before = await assert_invariants(container)
    assert sum(before.values()) == 0
    results = await asyncio.gather(
        *(purchase(container, b, creator, 25, f"buy-{b}") for b in buyers)
    )
    assert all(r.created for r in results)
    assert len({r.transaction.id for r in results}) == 50
    balances = await assert_invariants(container)
    assert all(balances[f"wallet:{b}"] == 5 for b in buyers)
    assert balances[f"wallet:{creator}"] == 50 * (25 - fee_for(25, 20))
    assert balances["platform_fee"] == 50 * fee_for(25, 20)
    assert await counts(container) == (50 + 50, 50 * 2 + 50 * 3)


async def test_50_repeated_purchases_with_one_key_charge_once(
    container: Container, owner: str
) -> None:
    buyer, creator = await make_workspaces(container, owner, 2)
    await fund(container, buyer, 100)
    results = await asyncio.gather(
        *(purchase(container, buyer, creator, 40, "once") for _ in range(50))
    )
    assert len({r.transaction.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await balance(container, buyer) == 60
    assert await counts(container) == (2, 2 + 3)
    await assert_invariants(container)


async def test_concurrent_purchases_never_overdraw(container: Container, owner: str) -> None:
    buyer, creator = await make_workspaces(container, owner, 2)
    await fund(container, buyer, 100)

    async def attempt(i: int) -> bool:
        try:
            await purchase(container, buyer, creator, 10, f"k-{i}-{uuid.uuid4().hex}")
        except PaymentRequired:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert sum(outcomes) == 10
    assert await balance(container, buyer) == 0
    await assert_invariants(container)


async def test_request_hash_ignores_key_order() -> None:
    assert request_hash({"a": 1, "b": 2}) == request_hash({"b": 2, "a": 1})
