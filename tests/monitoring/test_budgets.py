"""Budgets: a monthly token budget warns once at 80% and stops runs at 100% with a 429 that
names it; API-key and agent budgets cover only their runs; validation and ownership."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from codexos_server.container import Container
from codexos_server.events.bus import workspace_channel
from tests.conftest import Account, assert_envelope

AGENT = {
    "name": "Talker",
    "model": {"provider": "scripted", "options": {"script": [{"content": "a b c d e"}]}},
}


async def _execute(
    client: httpx.AsyncClient, headers: dict[str, str], agent_id: str
) -> httpx.Response:
    return await client.post(
        f"/agents/{agent_id}/execute", json={"input_data": "hello"}, headers=headers
    )


async def _budget_events(container: Container, workspace_id: str) -> list[str]:
    types: list[str] = []
    async with await container.events.subscribe(
        workspace_channel(workspace_id), after_seq=0
    ) as sub:
        try:
            async with asyncio.timeout(0.5):
                async for event in sub:
                    if event.type.startswith("budget."):
                        types.append(event.type)
        except TimeoutError:
            pass
    return types


async def test_workspace_budget_warns_once_and_stops_at_100_percent(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    account: Account = await make_account()
    ws = await account.personal_workspace()
    h = account.headers()
    agent = (await client.post("/agents", json=AGENT, headers=h)).json()
    first = await _execute(client, h, agent["id"])
    per_run = first.json()["usage"]["total_tokens"]
    assert per_run > 0
    # Already one run this month: a limit of 2.2 runs puts it at 45%.
    r = await client.post(
        "/monitoring/budgets", json={"metric": "tokens", "limit": per_run * 2.2}, headers=h
    )
    assert r.status_code == 201, r.text
    budget = r.json()
    assert budget["scope"] == "workspace" and budget["scope_id"] == ws
    assert budget["spent"] == per_run
    assert (await _execute(client, h, agent["id"])).status_code == 200  # 91%: warning
    assert await _budget_events(container, ws) == ["budget.warning"]
    assert (await _execute(client, h, agent["id"])).status_code == 200  # 136%: exceeded
    refused = await _execute(client, h, agent["id"])
    error = assert_envelope(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert error["details"]["budget_id"] == budget["id"]
    assert error["details"]["metric"] == "tokens" and error["details"]["scope"] == "workspace"
    assert int(refused.headers["Retry-After"]) > 0
    assert await _budget_events(container, ws) == ["budget.warning", "budget.exceeded"]
    listed = (await client.get("/monitoring/budgets", headers=h)).json()
    assert listed[0]["spent"] == per_run * 3 and listed[0]["used_fraction"] > 1
    # Raising the limit lets runs through again; no second warning this month.
    r = await client.patch(
        f"/monitoring/budgets/{budget['id']}", json={"limit": per_run * 100}, headers=h
    )
    assert r.status_code == 200
    assert (await _execute(client, h, agent["id"])).status_code == 200
    assert await _budget_events(container, ws) == ["budget.warning", "budget.exceeded"]


async def test_key_and_agent_budgets_cover_only_their_runs(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    h = account.headers()
    agent = (await client.post("/agents", json=AGENT, headers=h)).json()
    other_agent = (await client.post("/agents", json=AGENT, headers=h)).json()
    key = await account.api_key(["agents:execute"])
    keyed = {"Authorization": f"Bearer {key}"}
    keys = (await client.get("/auth/api-keys", headers=h)).json()
    key_id = next(k["id"] for k in (keys["items"] if isinstance(keys, dict) else keys))
    for scope, scope_id in (("api_key", key_id), ("agent", agent["id"])):
        r = await client.post(
            "/monitoring/budgets",
            json={"scope": scope, "scope_id": scope_id, "metric": "cost", "limit": 1e-9},
            headers=h,
        )
        assert r.status_code == 201, r.text
    r = await client.post(
        "/monitoring/budgets",
        json={"scope": "api_key", "scope_id": key_id, "metric": "tokens", "limit": 1},
        headers=h,
    )
    assert r.status_code == 201
    # The key's token budget stops the key after its first run; the session is not covered.
    assert (await _execute(client, keyed, other_agent["id"])).status_code == 200
    r = await _execute(client, keyed, other_agent["id"])
    assert assert_envelope(r, 429, "RATE_LIMIT_EXCEEDED")["details"]["scope"] == "api_key"
    assert (await _execute(client, h, other_agent["id"])).status_code == 200


async def test_budget_validation_and_ownership(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    other: Account = await make_account()
    h = account.headers()
    foreign_agent = (await client.post("/agents", json=AGENT, headers=other.headers())).json()
    for body in (
        {"metric": "tokens"},
        {"metric": "tokens", "limit": 0},
        {"metric": "tokens", "limit": -5},
        {"metric": "joules", "limit": 5},
        {"metric": "tokens", "limit": 5, "scope": "planet"},
        {"metric": "tokens", "limit": 5, "scope": "agent"},
        {"metric": "tokens", "limit": 5, "scope_id": "someone-else"},
        {"metric": "tokens", "limit": 5, "extra": True},
    ):
        r = await client.post("/monitoring/budgets", json=body, headers=h)
        assert_envelope(r, 422, "VALIDATION_ERROR")
    r = await client.post(
        "/monitoring/budgets",
        json={"metric": "tokens", "limit": 5, "scope": "agent", "scope_id": foreign_agent["id"]},
        headers=h,
    )
    assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    made = await client.post(
        "/monitoring/budgets", json={"metric": "tokens", "limit": 5}, headers=h
    )
    assert made.status_code == 201
    again = await client.post(
        "/monitoring/budgets", json={"metric": "tokens", "limit": 9}, headers=h
    )
    assert_envelope(again, 409, "CONFLICT")
    url = f"/monitoring/budgets/{made.json()['id']}"
    assert_envelope(await client.delete(url, headers=other.headers()), 404, "RESOURCE_NOT_FOUND")
    assert_envelope(
        await client.patch(url, json={"limit": 1}, headers=other.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert (await client.get("/monitoring/budgets", headers=other.headers())).json() == []
    assert (await client.delete(url, headers=h)).status_code == 204
