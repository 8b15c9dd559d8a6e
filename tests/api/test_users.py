"""Profiles, account deletion and user administration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from codexos_server.auth.models import ApiKey, AuthSession
from codexos_server.container import Container
from codexos_server.users.models import User, UserRole
from codexos_server.workspaces.models import Workspace
from tests.conftest import PASSWORD, Account, assert_envelope, register


async def _admin(make_account: Callable[..., Any], container: Container) -> Account:
    admin: Account = await make_account()
    await container.users.set_role_by_email(admin.email, UserRole.ADMIN)
    return admin


async def test_update_profile(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    other: Account = await make_account()
    r = await client.patch(
        "/users/me", json={"name": "Ada L.", "email": "ADA@example.com"}, headers=account.headers()
    )
    assert (
        r.status_code == 200
        and r.json()["name"] == "Ada L."
        and r.json()["email"] == "ada@example.com"
    )
    r = await client.patch("/users/me", json={"email": other.email}, headers=account.headers())
    assert_envelope(r, 409, "CONFLICT")
    r = await client.patch("/users/me", json={"role": "admin"}, headers=account.headers())
    assert_envelope(r, 422, "VALIDATION_ERROR")


async def test_delete_account_revokes_everything(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    account: Account = await make_account()
    key = await account.api_key(["profile"])
    assert (await client.delete("/users/me", headers=account.headers())).status_code == 204
    assert_envelope(
        await client.get("/users/me", headers=account.headers()), 401, "AUTHENTICATION_FAILED"
    )
    assert_envelope(
        await client.get("/users/me", headers={"Authorization": f"Bearer {key}"}),
        401,
        "AUTHENTICATION_FAILED",
    )
    r = await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    async with container.db.read() as session:
        user = await session.get_one(User, account.id)
        assert (
            user.email.endswith("@deleted.invalid")
            and user.password_hash is None
            and user.name is None
        )
        assert (
            await session.scalar(
                select(func.count()).select_from(ApiKey).where(ApiKey.user_id == account.id)
            )
            == 0
        )
        assert (
            await session.scalar(
                select(func.count())
                .select_from(AuthSession)
                .where(AuthSession.user_id == account.id)
            )
            == 0
        )
        assert (
            await session.scalar(
                select(func.count()).select_from(Workspace).where(Workspace.owner_id == account.id)
            )
            == 0
        )
    # The address is free again.
    again = await register(client, account.email)
    assert again.id != account.id


async def test_delete_refused_while_owning_a_shared_workspace(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    owner: Account = await make_account()
    member: Account = await make_account()
    ws = (await client.post("/workspaces", json={"name": "team"}, headers=owner.headers())).json()[
        "id"
    ]
    token = (
        await client.post(
            f"/workspaces/{ws}/invitations", json={"email": member.email}, headers=owner.headers()
        )
    ).json()["token"]
    await client.post("/invitations/accept", json={"token": token}, headers=member.headers())
    err = assert_envelope(
        await client.delete("/users/me", headers=owner.headers()), 409, "CONFLICT"
    )
    assert err["details"]["workspace_id"] == ws
    await client.post(
        f"/workspaces/{ws}/transfer-ownership", json={"user_id": member.id}, headers=owner.headers()
    )
    assert (await client.delete("/users/me", headers=owner.headers())).status_code == 204
    r = await client.get(f"/workspaces/{ws}/members", headers=member.headers())
    assert [m["user_id"] for m in r.json()["items"]] == [member.id]


async def test_admin_endpoints(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    user: Account = await make_account()
    assert_envelope(await client.get("/users", headers=user.headers()), 403, "AUTHORIZATION_FAILED")
    assert_envelope(
        await client.patch(f"/users/{user.id}", json={"tier": "pro"}, headers=user.headers()),
        403,
        "AUTHORIZATION_FAILED",
    )
    admin = await _admin(make_account, container)

    r = await client.get("/users", params={"limit": 1}, headers=admin.headers())
    assert r.status_code == 200 and len(r.json()["items"]) == 1 and r.json()["next_cursor"]
    r = await client.get(f"/users/{user.id}", headers=admin.headers())
    assert r.json()["email"] == user.email
    r = await client.patch(
        f"/users/{user.id}",
        json={"tier": "enterprise", "rate_limit_per_hour": 5000},
        headers=admin.headers(),
    )
    assert (
        r.status_code == 200
        and r.json()["tier"] == "enterprise"
        and r.json()["rate_limit_per_hour"] == 5000
    )
    r = await client.get("/users/me", headers=user.headers())
    assert r.headers["x-ratelimit-limit"] == "5000"
    assert_envelope(
        await client.get("/users/not-a-user", headers=admin.headers()), 404, "RESOURCE_NOT_FOUND"
    )
    r = await client.patch(
        f"/users/{admin.id}", json={"is_disabled": True}, headers=admin.headers()
    )
    assert_envelope(r, 409, "CONFLICT")
    r = await client.patch(f"/users/{user.id}", json={"tier": "platinum"}, headers=admin.headers())
    assert_envelope(r, 422, "VALIDATION_ERROR")


async def test_admin_key_needs_admin_scope(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    admin = await _admin(make_account, container)
    plain = await admin.api_key(["profile"])
    scoped = await admin.api_key(["admin"])
    assert_envelope(
        await client.get("/users", headers={"Authorization": f"Bearer {plain}"}),
        403,
        "AUTHORIZATION_FAILED",
    )
    assert (
        await client.get("/users", headers={"Authorization": f"Bearer {scoped}"})
    ).status_code == 200


async def test_admin_update_refuses_explicit_nulls(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    """Found by the fuzzer: `{"tier": null}` must be a 422, not a NOT NULL violation."""
    user: Account = await make_account()
    admin = await _admin(make_account, container)
    for field in ("role", "tier", "is_disabled"):
        r = await client.patch(f"/users/{user.id}", json={field: None}, headers=admin.headers())
        assert_envelope(r, 422, "VALIDATION_ERROR")
    r = await client.patch(
        f"/users/{user.id}", json={"rate_limit_per_hour": None}, headers=admin.headers()
    )
    assert r.status_code == 200 and r.json()["rate_limit_per_hour"] is None
