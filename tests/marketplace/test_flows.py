"""Publish -> review -> install -> run, for free, one-time and per-run listings; what a
package carries and what it never does."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from codexos_server.agents.schemas import ExecuteRequest
from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.billing.ledger import request_hash
from codexos_server.billing.models import TransactionKind
from codexos_server.container import Container
from codexos_server.workspaces.permissions import WorkspaceRole
from tests.billing.helpers import assert_invariants
from tests.conftest import Account, assert_envelope
from tests.marketplace.helpers import (
    admin_account,
    create_agent,
    create_listing,
    fund_account,
    install,
    publish,
    published_agent_listing,
    scripted_agent,
    wallet,
)

PROVIDER_KEY = "sk-live-provider-key-0123456789"
TOOL_KEY = "tool-header-secret-abcdef"


async def _execute(client: httpx.AsyncClient, account: Account, agent_id: str) -> httpx.Response:
    return await client.post(
        f"/agents/{agent_id}/execute", json={"input_data": "hi"}, headers=account.headers()
    )


async def test_free_listing_publish_review_install_run(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    listing = await published_agent_listing(
        client, creator, admin, scripted_agent("free answer"), tags=["Support", "triage"]
    )
    assert listing["pricing"] == {"model": "free", "price": 0}
    assert listing["tags"] == ["support", "triage"]
    r = await install(client, user, listing["id"])
    assert r.status_code == 201, r.text
    installed = r.json()
    assert installed["version"] == 1 and installed["resource_type"] == "agent"
    agent = (await client.get(f"/agents/{installed['resource_id']}", headers=user.headers())).json()
    assert agent["source_listing_id"] == listing["id"] and agent["source_listing_version"] == 1
    assert agent["workspace_id"] == await user.personal_workspace()
    run = await _execute(client, user, agent["id"])
    assert run.status_code == 200 and run.json()["output"] == "free answer", run.text
    assert await wallet(client, user) == 0
    detail = (
        await client.get(f"/marketplace/listings/{listing['id']}", headers=user.headers())
    ).json()
    assert detail["install_count"] == 1
    assert detail["viewer"]["installed_version"] == 1 and detail["viewer"]["install_id"]
    # Installing twice is refused; the install is listed.
    assert_envelope(await install(client, user, listing["id"]), 409, "CONFLICT")
    r = await client.get("/marketplace/installs", headers=user.headers())
    assert [i["id"] for i in r.json()["items"]] == [installed["id"]]


async def test_one_time_listing_must_be_bought_once(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, buyer = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    listing = await published_agent_listing(
        client, creator, admin, pricing={"model": "one_time", "price": 50}
    )
    lid = listing["id"]
    assert_envelope(await install(client, buyer, lid), 402, "PURCHASE_REQUIRED")
    buy = f"/marketplace/listings/{lid}/purchase"
    assert_envelope(await client.post(buy, headers=buyer.headers()), 402, "INSUFFICIENT_CREDITS")
    await fund_account(container, buyer, 120)
    headers = buyer.headers() | {"Idempotency-Key": "buy-1"}
    first = await client.post(buy, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(buy, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other_key = await client.post(buy, headers=buyer.headers() | {"Idempotency-Key": "buy-2"})
    assert other_key.status_code == 200 and other_key.json()["id"] == first.json()["id"]
    assert await wallet(client, buyer) == 70
    assert await wallet(client, creator) == 40  # 50 less the 20% platform fee
    r = await install(client, buyer, lid)
    assert r.status_code == 201, r.text
    run = await _execute(client, buyer, r.json()["resource_id"])
    assert run.json()["status"] == "succeeded"
    assert await wallet(client, buyer) == 70  # one-time: runs are free
    # The creator installs their own listing without buying it; it cannot be bought.
    assert (await install(client, creator, lid)).status_code == 201
    assert_envelope(await client.post(buy, headers=creator.headers()), 409, "CONFLICT")
    earnings = (await client.get("/billing/earnings", headers=creator.headers())).json()
    assert json.dumps(earnings).count(lid) >= 1
    purchases = (await client.get("/marketplace/purchases", headers=buyer.headers())).json()
    assert [p["listing_id"] for p in purchases["items"]] == [lid]
    # An admin refund gives the credits back and revokes the purchase.
    r = await client.post(
        f"/billing/transactions/{first.json()['transaction_id']}/refund",
        json={"reason": "asked"},
        headers=admin.headers(),
    )
    assert r.status_code == 201, r.text
    assert await wallet(client, buyer) == 120 and await wallet(client, creator) == 0
    purchases = (await client.get("/marketplace/purchases", headers=buyer.headers())).json()
    assert purchases["items"] == []
    detail = (await client.get(f"/marketplace/listings/{lid}", headers=buyer.headers())).json()
    assert detail["viewer"]["purchased"] is False and detail["viewer"]["installed_version"] == 1
    await assert_invariants(container)


async def test_per_run_listing_charges_successful_runs_only(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    listing = await published_agent_listing(
        client,
        creator,
        admin,
        scripted_agent("paid answer"),
        pricing={"model": "per_run", "price": 10},
    )
    r = await install(client, user, listing["id"])
    assert r.status_code == 201 and r.json()["price_per_run"] == 10, r.text
    agent_id = r.json()["resource_id"]
    # An empty wallet is refused before the run starts.
    assert_envelope(await _execute(client, user, agent_id), 402, "INSUFFICIENT_CREDITS")
    await fund_account(container, user, 25)
    ok = await _execute(client, user, agent_id)
    assert ok.json()["status"] == "succeeded" and ok.json()["output"] == "paid answer"
    assert await wallet(client, user) == 15 and await wallet(client, creator) == 8
    broken = {"provider": "scripted", "options": {"script": [{"error": "provider down"}]}}
    r = await client.patch(f"/agents/{agent_id}", json={"model": broken}, headers=user.headers())
    assert r.status_code == 200, r.text
    failed = await _execute(client, user, agent_id)
    assert failed.json()["status"] == "failed"
    assert await wallet(client, user) == 15  # a failed run costs nothing
    tx = (await client.get("/billing/transactions", headers=user.headers())).json()["items"]
    charges = [t for t in tx if t["kind"] == "run_charge"]
    assert len(charges) == 1 and charges[0]["reference"]["run_id"] == ok.json()["id"]
    await assert_invariants(container)


async def test_a_run_the_wallet_cannot_pay_for_at_the_end_fails_without_output(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    listing = await published_agent_listing(
        client, creator, admin, pricing={"model": "per_run", "price": 10}
    )
    agent_id = (await install(client, user, listing["id"])).json()["resource_id"]
    await fund_account(container, user, 10)
    ws = await user.personal_workspace()
    actor = Principal(
        user.id, user.email, "user", "free", None, ws, WorkspaceRole.OWNER, AuthMethod.SESSION
    )
    created = await container.runs.create(
        actor, agent_id, ExecuteRequest(input_data="hi"), mode="async"
    )
    async with container.db.transaction() as session:  # spend the credits meanwhile
        ledger = container.ledger
        wallet_id, sink = await ledger.wallet(session, ws), await ledger.external(session, "t")
        await ledger.post(
            session,
            TransactionKind.GRANT,
            [(wallet_id, -10), (sink, 10)],
            request_hash=request_hash("drain", ws),
        )

    async def never() -> bool:
        return False

    await container.runtime.execute(created.out.id, emit_tokens=False, is_cancelled=never)
    run = (await client.get(f"/runs/{created.out.id}", headers=user.headers())).json()
    assert run["status"] == "failed" and run["output"] is None
    assert run["error"]["type"] == "INSUFFICIENT_CREDITS"
    assert await wallet(client, user) == 0 and await wallet(client, creator) == 0
    await assert_invariants(container)


async def test_packages_never_carry_secrets(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    h = creator.headers()
    r = await client.post(
        "/providers",
        json={"name": "my-llm", "base_url": "https://llm.example.com/v1", "api_key": PROVIDER_KEY},
        headers=h,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/tools/custom",
        json={
            "name": "lookup",
            "description": "Looks things up",
            "url_template": "https://api.example.com/lookup?q={q}",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            "headers": {"X-Api-Key": TOOL_KEY},
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    kb = await client.post("/knowledge-bases", json={"name": "Private docs"}, headers=h)
    assert kb.status_code == 201, kb.text
    agent = await create_agent(
        client,
        creator,
        {
            "name": "Keyed",
            "model": {
                "provider": "my-llm",
                "model": "big",
                "options": {"api_key": PROVIDER_KEY, "top_p": 0.9},
            },
            "tools": [{"name": "lookup"}, {"name": "calculator"}],
            "knowledge_base_ids": [kb.json()["id"]],
            "variables": {"greeting": "hello", "service_token": "tok-secret-value"},
        },
    )
    listing = await create_listing(client, creator, agent["id"])
    version = (
        await client.get(f"/marketplace/listings/{listing['id']}/versions/1", headers=h)
    ).json()
    text = json.dumps(version)
    for secret in (PROVIDER_KEY, TOOL_KEY, "tok-secret-value"):
        assert secret not in text
    package = version["package"]
    assert package["agent"]["model"]["options"] == {"top_p": 0.9}
    assert package["agent"]["variables"] == {"greeting": "hello"}
    assert package["custom_tools"]["lookup"]["needs_headers"] is True
    assert package["knowledge_bases"]["kb1"]["name"] == "Private docs"
    assert version["requirements"]["providers"][0]["name"] == "my-llm"
    await publish(client, creator, admin, listing["id"])
    # Others see the requirements, not the package.
    seen = (
        await client.get(
            f"/marketplace/listings/{listing['id']}/versions/1", headers=user.headers()
        )
    ).json()
    assert seen["package"] is None and seen["requirements"]["custom_tools"] == ["lookup"]
    r = await install(client, user, listing["id"])
    assert r.status_code == 201, r.text
    result = r.json()
    assert any("my-llm" in s for s in result["setup_required"])
    assert any("lookup" in s for s in result["setup_required"])
    kb_id = result["created_resources"]["knowledge_bases"]["kb1"]
    new_kb = (await client.get(f"/knowledge-bases/{kb_id}", headers=user.headers())).json()
    assert new_kb["name"] == "Private docs" and new_kb["document_count"] == 0
    installed = (
        await client.get(f"/agents/{result['resource_id']}", headers=user.headers())
    ).json()
    assert installed["knowledge_base_ids"] == [kb_id]
    assert installed["model"]["provider"] is None  # the user has no "my-llm" provider
    assert PROVIDER_KEY not in json.dumps(installed)
