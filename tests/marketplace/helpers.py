"""Shared steps of the marketplace tests: agents to list, publishing, funding, installing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from codexos_server.container import Container
from codexos_server.users.models import UserRole
from tests.billing.helpers import fund
from tests.conftest import Account


def scripted_agent(reply: str = "done", **extra: Any) -> dict[str, Any]:
    return {
        "name": "Helper",
        "instructions": "Be brief.",
        "model": {"provider": "scripted", "options": {"script": [{"content": reply}]}},
        **extra,
    }


async def admin_account(make_account: Callable[..., Any], container: Container) -> Account:
    admin: Account = await make_account()
    await container.users.set_role_by_email(admin.email, UserRole.ADMIN)
    return admin


async def create_agent(
    client: httpx.AsyncClient, account: Account, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    r = await client.post("/agents", json=body or scripted_agent(), headers=account.headers())
    assert r.status_code == 201, r.text
    return dict(r.json())


async def create_listing(
    client: httpx.AsyncClient,
    account: Account,
    resource_id: str,
    *,
    resource_type: str = "agent",
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "resource_type": resource_type,
        "resource_id": resource_id,
        "title": "Helper agent",
        "summary": "Answers briefly",
        **fields,
    }
    r = await client.post("/marketplace/listings", json=body, headers=account.headers())
    assert r.status_code == 201, r.text
    return dict(r.json())


async def publish(
    client: httpx.AsyncClient, creator: Account, admin: Account, listing_id: str
) -> dict[str, Any]:
    """draft -> submit -> approve; returns the published listing."""
    r = await client.post(f"/marketplace/listings/{listing_id}/submit", headers=creator.headers())
    assert r.status_code == 200 and r.json()["status"] == "pending_review", r.text
    r = await client.post(f"/marketplace/listings/{listing_id}/approve", headers=admin.headers())
    assert r.status_code == 200 and r.json()["status"] == "published", r.text
    return dict(r.json())


async def published_agent_listing(
    client: httpx.AsyncClient,
    creator: Account,
    admin: Account,
    agent: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    created = await create_agent(client, creator, agent)
    listing = await create_listing(client, creator, created["id"], **fields)
    return await publish(client, creator, admin, listing["id"])


async def install(
    client: httpx.AsyncClient, account: Account, listing_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/marketplace/listings/{listing_id}/install", json=body, headers=account.headers()
    )


async def wallet(client: httpx.AsyncClient, account: Account) -> int:
    r = await client.get("/billing/wallet", headers=account.headers())
    return int(r.json()["balance"])


async def fund_account(container: Container, account: Account, credits: int) -> None:
    await fund(container, await account.personal_workspace(), credits)
