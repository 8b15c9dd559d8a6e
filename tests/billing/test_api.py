"""Billing endpoints: wallet, history, ownership, admin grants and refunds, earnings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from codexos_server.billing.models import TransactionKind
from codexos_server.container import Container
from codexos_server.users.models import UserRole
from tests.billing.helpers import assert_invariants, balance, fund, purchase
from tests.conftest import Account, assert_envelope


async def _admin(make_account: Callable[..., Any], container: Container) -> Account:
    admin: Account = await make_account()
    await container.users.set_role_by_email(admin.email, UserRole.ADMIN)
    return admin


async def _grant(
    client: httpx.AsyncClient,
    admin: Account,
    workspace_id: str,
    credits: Any,
    key: str | None = None,
) -> httpx.Response:
    headers = admin.headers() | ({"Idempotency-Key": key} if key else {})
    return await client.post(
        "/billing/grants", json={"workspace_id": workspace_id, "credits": credits}, headers=headers
    )


async def test_wallet_starts_empty(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    user: Account = await make_account()
    r = await client.get("/billing/wallet", headers=user.headers())
    assert r.status_code == 200, r.text
    assert r.json() == {
        "workspace_id": await user.personal_workspace(),
        "balance": 0,
        "currency": "credits",
    }
    r = await client.get("/billing/transactions", headers=user.headers())
    assert r.json() == {"items": [], "next_cursor": None}


async def test_grants_are_admin_only_and_idempotent(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    admin = await _admin(make_account, container)
    user: Account = await make_account()
    ws = await user.personal_workspace()
    assert_envelope(await _grant(client, user, ws, 100), 403, "AUTHORIZATION_FAILED")
    first = await _grant(client, admin, ws, 100, key="g-1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["kind"] == "grant" and body["amount"] == 100
    assert sorted(e["amount"] for e in body["entries"]) == [-100, 100]
    again = await _grant(client, admin, ws, 100, key="g-1")
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    assert_envelope(await _grant(client, admin, ws, 101, key="g-1"), 409, "CONFLICT")
    r = await client.get("/billing/wallet", headers=user.headers())
    assert r.json()["balance"] == 100
    assert_envelope(await _grant(client, admin, "no-such-ws", 5), 404, "RESOURCE_NOT_FOUND")
    for bad in (0, -5, 10**12 + 1, "lots", 1.5, None):
        assert_envelope(await _grant(client, admin, ws, bad), 422, "VALIDATION_ERROR")
    await assert_invariants(container)


async def test_history_pagination_and_ownership(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    admin = await _admin(make_account, container)
    user: Account = await make_account()
    other: Account = await make_account()
    ws = await user.personal_workspace()
    for credits in range(1, 6):
        assert (await _grant(client, admin, ws, credits)).status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/billing/transactions", params=params, headers=user.headers())
        assert r.status_code == 200, r.text
        page = r.json()
        pages += 1
        for item in page["items"]:
            # Only the caller's own wallet entry is shown.
            assert [e["amount"] for e in item["entries"]] == [item["amount"]]
            assert item["entries"][0]["workspace_id"] == ws
            seen.append(item["id"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(set(seen)) == 5
    r = await client.get(f"/billing/transactions/{seen[0]}", headers=user.headers())
    assert r.status_code == 200 and r.json()["id"] == seen[0]
    assert_envelope(
        await client.get(f"/billing/transactions/{seen[0]}", headers=other.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_envelope(
        await client.get(
            "/billing/transactions", params={"cursor": "junk"}, headers=user.headers()
        ),
        422,
        "VALIDATION_ERROR",
    )


async def test_refunds(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    admin = await _admin(make_account, container)
    buyer_user: Account = await make_account()
    creator_user: Account = await make_account()
    buyer = await buyer_user.personal_workspace()
    creator = await creator_user.personal_workspace()
    await fund(container, buyer, 100)
    sale = await purchase(container, buyer, creator, 50, "buy-1")
    tx_id = sale.transaction.id
    assert_envelope(
        await client.post(f"/billing/transactions/{tx_id}/refund", headers=buyer_user.headers()),
        403,
        "AUTHORIZATION_FAILED",
    )
    assert_envelope(
        await client.post("/billing/transactions/nope/refund", headers=admin.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    r = await client.post(
        f"/billing/transactions/{tx_id}/refund", json={"reason": "broken"}, headers=admin.headers()
    )
    assert r.status_code == 201, r.text
    refund = r.json()
    assert refund["kind"] == "refund" and refund["refund_of"] == tx_id and refund["amount"] == 50
    assert await balance(container, buyer) == 100
    assert await balance(container, creator) == 0
    assert_envelope(
        await client.post(f"/billing/transactions/{tx_id}/refund", headers=admin.headers()),
        409,
        "CONFLICT",
    )
    assert_envelope(
        await client.post(f"/billing/transactions/{refund['id']}/refund", headers=admin.headers()),
        409,
        "CONFLICT",
    )
    r = await client.get(f"/billing/transactions/{tx_id}", headers=buyer_user.headers())
    assert r.json()["refunded_by"] == refund["id"]
    # A creator who spent the earnings cannot be refunded against.
    sale = await purchase(container, buyer, creator, 50, "buy-2")
    spent = await purchase(container, creator, buyer, 40, "spend")
    assert spent.created
    before = await assert_invariants(container)
    assert_envelope(
        await client.post(
            f"/billing/transactions/{sale.transaction.id}/refund", headers=admin.headers()
        ),
        409,
        "CONFLICT",
    )
    assert await assert_invariants(container) == before


async def test_earnings_by_period_and_listing(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    admin = await _admin(make_account, container)
    buyer_user: Account = await make_account()
    creator_user: Account = await make_account()
    buyer = await buyer_user.personal_workspace()
    creator = await creator_user.personal_workspace()
    await fund(container, buyer, 1000)
    await purchase(container, buyer, creator, 100, "a", listing_id="L1")
    await purchase(container, buyer, creator, 100, "b", listing_id="L1")
    await purchase(
        container, buyer, creator, 10, "c", listing_id="L2", kind=TransactionKind.RUN_CHARGE
    )
    refunded = await purchase(container, buyer, creator, 50, "d", listing_id="L2")
    r = await client.post(
        f"/billing/transactions/{refunded.transaction.id}/refund", headers=admin.headers()
    )
    assert r.status_code == 201, r.text
    for period in ("day", "month"):
        r = await client.get(
            "/billing/earnings", params={"period": period}, headers=creator_user.headers()
        )
        assert r.status_code == 200, r.text
        body = r.json()
        by_listing = {b["listing_id"]: b for b in body["buckets"]}
        assert by_listing["L1"]["credits"] == 160 and by_listing["L1"]["transactions"] == 2
        assert by_listing["L2"]["credits"] == 8 + 40 - 40
        assert body["total"] == 168
        assert len(by_listing["L1"]["period_start"]) == (10 if period == "day" else 7)
    # The buyer earned nothing: spending is not earning.
    r = await client.get("/billing/earnings", headers=buyer_user.headers())
    assert r.json()["total"] == 0 and r.json()["buckets"] == []
    assert_envelope(
        await client.get(
            "/billing/earnings", params={"period": "year"}, headers=buyer_user.headers()
        ),
        422,
        "VALIDATION_ERROR",
    )
    assert_envelope(
        await client.get(
            "/billing/earnings",
            params={"since": "2030-01-01T00:00:00Z", "until": "2029-01-01T00:00:00Z"},
            headers=buyer_user.headers(),
        ),
        422,
        "VALIDATION_ERROR",
    )
