"""Sending GraphQL operations through the test client."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Account

AGENT = {
    "name": "a",
    "type": "basic",
    "model": {"provider": "scripted", "options": {"script": [{"content": "hello there"}]}},
}


async def gql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    account: Account | None = None,
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> dict[str, Any]:
    """POST an operation; returns the response body (data and errors)."""
    sent = dict(headers or {})
    if account is not None:
        sent |= account.headers()
    r = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
    )
    assert r.status_code == status, r.text
    return dict(r.json())


async def data(
    http: httpx.AsyncClient, account: Account, query: str, **variables: Any
) -> dict[str, Any]:
    """The data of an operation that must succeed."""
    body = await gql(http, query, variables, account=account)
    assert not body.get("errors"), body
    return dict(body["data"])


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


async def create_agent(http: httpx.AsyncClient, account: Account, name: str = "a") -> str:
    r = await http.post("/agents", json=AGENT | {"name": name}, headers=account.headers())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def execute(http: httpx.AsyncClient, account: Account, agent_id: str) -> dict[str, Any]:
    r = await http.post(
        f"/agents/{agent_id}/execute", json={"input_data": "hi"}, headers=account.headers()
    )
    assert r.status_code == 200, r.text
    return dict(r.json())
