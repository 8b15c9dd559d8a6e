"""API keys: shown once, stored hashed, listed by prefix, scoped, revocable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from codexos_server.auth.models import ApiKey
from codexos_server.auth.tokens import sha256_hex
from codexos_server.container import Container
from tests.conftest import Account, assert_envelope


async def test_key_is_shown_once_and_stored_hashed(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    account: Account = await make_account()
    r = await client.post(
        "/auth/api-keys",
        json={"name": "ci", "scopes": ["agents:*", "profile"], "expires_in_days": 30},
        headers=account.headers(),
    )
    assert r.status_code == 201
    created = r.json()
    key = created["key"]
    assert key.startswith("cxo_") and len(key) >= 40
    assert created["prefix"] == key[:8] and created["last_four"] == key[-4:]
    assert created["scopes"] == ["agents:*", "profile"]
    assert created["expires_at"] is not None

    listed = (await client.get("/auth/api-keys", headers=account.headers())).json()["items"]
    assert len(listed) == 1
    assert "key" not in listed[0] and key not in r.text.replace(key, "", 1)
    async with container.db.read() as session:
        row = await session.scalar(select(ApiKey))
        assert row is not None
        assert row.key_hash == sha256_hex(key) and key not in (row.key_hash, row.prefix)


@pytest.mark.parametrize(
    ("scopes", "field_message"),
    [(["agents:read", "bogus"], "bogus"), ([], None), (["nope:*"], "nope")],
)
async def test_unknown_scopes_refused(
    make_account: Callable[..., Any],
    client: httpx.AsyncClient,
    scopes: list[str],
    field_message: str | None,
) -> None:
    account: Account = await make_account()
    r = await client.post(
        "/auth/api-keys", json={"name": "x", "scopes": scopes}, headers=account.headers()
    )
    err = assert_envelope(r, 422, "VALIDATION_ERROR")
    if field_message:
        assert field_message in str(err["details"])


async def test_scopes_are_enforced(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    reader = await account.api_key(["workspaces:read"])
    wildcard = await account.api_key(["workspaces:*"])
    assert (
        await client.get("/workspaces", headers={"Authorization": f"Bearer {reader}"})
    ).status_code == 200
    r = await client.post(
        "/workspaces", json={"name": "x"}, headers={"Authorization": f"Bearer {reader}"}
    )
    err = assert_envelope(r, 403, "AUTHORIZATION_FAILED")
    assert err["details"]["required_scope"] == "workspaces:write"
    assert (
        await client.post(
            "/workspaces", json={"name": "x"}, headers={"Authorization": f"Bearer {wildcard}"}
        )
    ).status_code == 201
    assert_envelope(
        await client.get("/users/me", headers={"Authorization": f"Bearer {wildcard}"}),
        403,
        "AUTHORIZATION_FAILED",
    )


async def test_a_key_cannot_mint_broader_keys(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    minter = await account.api_key(["api_keys:write", "agents:read"])
    auth = {"Authorization": f"Bearer {minter}"}
    r = await client.post(
        "/auth/api-keys", json={"name": "wider", "scopes": ["agents:write"]}, headers=auth
    )
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")
    r = await client.post("/auth/api-keys", json={"name": "all", "scopes": ["*"]}, headers=auth)
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")
    r = await client.post(
        "/auth/api-keys", json={"name": "same", "scopes": ["agents:read"]}, headers=auth
    )
    assert r.status_code == 201


async def test_admin_scope_needs_admin_role(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    r = await client.post(
        "/auth/api-keys", json={"name": "a", "scopes": ["admin"]}, headers=account.headers()
    )
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")


async def test_revoked_key_stops_at_once(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    r = await client.post(
        "/auth/api-keys", json={"name": "k", "scopes": ["profile"]}, headers=account.headers()
    )
    key, key_id = r.json()["key"], r.json()["id"]
    assert (
        await client.get("/users/me", headers={"Authorization": f"Bearer {key}"})
    ).status_code == 200
    r = await client.delete(f"/auth/api-keys/{key_id}", headers=account.headers())
    assert r.status_code == 200 and r.json()["revoked_at"]
    err = assert_envelope(
        await client.get("/users/me", headers={"Authorization": f"Bearer {key}"}),
        401,
        "AUTHENTICATION_FAILED",
    )
    assert "revoked" in err["message"]


async def test_expired_and_unknown_keys(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    account: Account = await make_account()
    key = await account.api_key(["profile"])
    async with container.db.transaction() as session:
        await session.execute(
            update(ApiKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    err = assert_envelope(
        await client.get("/users/me", headers={"Authorization": f"Bearer {key}"}),
        401,
        "AUTHENTICATION_FAILED",
    )
    assert "expired" in err["message"]
    assert_envelope(
        await client.get("/users/me", headers={"Authorization": "Bearer cxo_doesnotexist"}),
        401,
        "AUTHENTICATION_FAILED",
    )


async def test_others_keys_are_404_but_admins_manage_all(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    owner: Account = await make_account()
    member: Account = await make_account()
    ws = (await client.post("/workspaces", json={"name": "t"}, headers=owner.headers())).json()[
        "id"
    ]
    token = (
        await client.post(
            f"/workspaces/{ws}/invitations", json={"email": member.email}, headers=owner.headers()
        )
    ).json()["token"]
    await client.post("/invitations/accept", json={"token": token}, headers=member.headers())
    r = await client.post(
        "/auth/api-keys", json={"name": "m", "scopes": ["profile"]}, headers=member.headers(ws)
    )
    member_key_id = r.json()["id"]
    r = await client.post(
        "/auth/api-keys", json={"name": "o", "scopes": ["profile"]}, headers=owner.headers(ws)
    )
    owner_key_id = r.json()["id"]

    member_view = (await client.get("/auth/api-keys", headers=member.headers(ws))).json()["items"]
    assert [k["id"] for k in member_view] == [member_key_id]
    owner_view = (await client.get("/auth/api-keys", headers=owner.headers(ws))).json()["items"]
    assert {k["id"] for k in owner_view} == {member_key_id, owner_key_id}

    assert_envelope(
        await client.delete(f"/auth/api-keys/{owner_key_id}", headers=member.headers(ws)),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert (
        await client.delete(f"/auth/api-keys/{member_key_id}", headers=owner.headers(ws))
    ).status_code == 200
    # Outside the workspace the key belongs to, it does not exist.
    assert_envelope(
        await client.delete(f"/auth/api-keys/{owner_key_id}", headers=owner.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )


async def test_scopes_catalogue(client: httpx.AsyncClient) -> None:
    r = await client.get("/auth/scopes")
    names = {s["name"] for s in r.json()}
    assert {
        "profile",
        "agents:read",
        "agents:write",
        "agents:execute",
        "workflows:read",
        "knowledge:read",
        "marketplace:read",
    } <= names
