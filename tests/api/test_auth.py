"""Every auth flow: registration, login, refresh rotation and reuse, logout, password change,
expired/tampered/`alg: none` tokens, disabled users."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import update

from codexos_server.auth.models import RefreshToken
from codexos_server.config import Settings
from codexos_server.container import Container
from codexos_server.users.models import UserRole
from tests.conftest import PASSWORD, Account, assert_envelope, register


async def test_register_normalises_email_and_hides_password(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/auth/register", json={"email": "Mixed.Case@Example.COM", "password": PASSWORD}
    )
    assert r.status_code == 201
    body = r.json()
    assert body["email"] == "mixed.case@example.com"
    assert "password" not in json.dumps(body)
    r = await client.post(
        "/auth/login", json={"email": " MIXED.case@example.com ", "password": PASSWORD}
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short1", "too short"), ("password123", "too common"), ("12345678", "too common")],
)
async def test_password_policy(client: httpx.AsyncClient, password: str, reason: str) -> None:
    r = await client.post("/auth/register", json={"email": "p@example.com", "password": password})
    err = assert_envelope(r, 422, "VALIDATION_ERROR")
    assert reason in err["message"].lower()


async def test_registration_creates_personal_workspace(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    r = await client.get("/workspaces", headers=account.headers())
    items = r.json()["items"]
    assert len(items) == 1
    assert items[0]["is_personal"] and items[0]["role"] == "owner"


async def test_login_wrong_password_and_unknown_user(client: httpx.AsyncClient) -> None:
    await register(client, "known@example.com")
    r = await client.post(
        "/auth/login", json={"email": "known@example.com", "password": "wrong password"}
    )
    wrong = assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    r = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": "wrong password"}
    )
    unknown = assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    assert wrong["message"] == unknown["message"]  # no account enumeration


async def test_login_throttled_per_account(client_factory: Callable[..., Any]) -> None:
    http = await client_factory(login_limit_per_account="3 per 15 minutes")
    await register(http, "victim@example.com")
    for _ in range(3):
        r = await http.post(
            "/auth/login", json={"email": "victim@example.com", "password": "guess guess"}
        )
        assert r.status_code == 401
    r = await http.post("/auth/login", json={"email": "victim@example.com", "password": PASSWORD})
    err = assert_envelope(r, 429, "RATE_LIMIT_EXCEEDED")
    assert "account" in err["message"]
    assert int(r.headers["retry-after"]) > 0


async def test_login_throttled_per_ip(client_factory: Callable[..., Any]) -> None:
    http = await client_factory(login_limit_per_ip="4 per 15 minutes")
    for i in range(4):
        r = await http.post(
            "/auth/login", json={"email": f"u{i}@example.com", "password": "whatever1"}
        )
        assert r.status_code == 401
    r = await http.post("/auth/login", json={"email": "u9@example.com", "password": "whatever1"})
    err = assert_envelope(r, 429, "RATE_LIMIT_EXCEEDED")
    assert "address" in err["message"]


async def test_refresh_rotates(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    old = account.tokens
    r = await client.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})
    assert r.status_code == 200
    new = r.json()
    assert new["refresh_token"] != old["refresh_token"]
    r = await client.get("/users/me", headers={"Authorization": f"Bearer {new['access_token']}"})
    assert r.status_code == 200


async def test_refresh_reuse_revokes_the_whole_family(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    first = account.tokens
    second = (
        await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    third = (
        await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    ).json()

    # An attacker replays the first (spent) token:
    r = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    err = assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    assert "already used" in err["message"]

    # ...and every token of that login is dead, including the newest pair.
    r = await client.post("/auth/refresh", json={"refresh_token": third["refresh_token"]})
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    r = await client.get("/users/me", headers={"Authorization": f"Bearer {third['access_token']}"})
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")

    # Another login of the same user is unaffected.
    other = (
        await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    ).json()
    r = await client.get("/users/me", headers={"Authorization": f"Bearer {other['access_token']}"})
    assert r.status_code == 200


async def test_refresh_unknown_and_expired(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    assert_envelope(
        await client.post("/auth/refresh", json={"refresh_token": "nope"}),
        401,
        "AUTHENTICATION_FAILED",
    )
    account: Account = await make_account()
    async with container.db.transaction() as session:
        await session.execute(
            update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    r = await client.post("/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]})
    err = assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    assert "expired" in err["message"]


async def test_logout_revokes_access_and_refresh(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    r = await client.post("/auth/logout", headers=account.headers())
    assert r.status_code == 204
    assert_envelope(
        await client.get("/users/me", headers=account.headers()), 401, "AUTHENTICATION_FAILED"
    )
    r = await client.post("/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]})
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")


async def test_logout_with_refresh_token_only(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    r = await client.post("/auth/logout", json={"refresh_token": account.tokens["refresh_token"]})
    assert r.status_code == 204
    assert_envelope(
        await client.get("/users/me", headers=account.headers()), 401, "AUTHENTICATION_FAILED"
    )
    assert_envelope(await client.post("/auth/logout"), 401, "AUTHENTICATION_FAILED")


async def test_password_change_revokes_other_sessions(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    other = (
        await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    ).json()
    new_password = "a brand new passphrase"
    r = await client.post(
        "/auth/password",
        json={"current_password": "wrong password", "new_password": new_password},
        headers=account.headers(),
    )
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    r = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=account.headers(),
    )
    assert r.status_code == 204
    assert (
        await client.get("/users/me", headers=account.headers())
    ).status_code == 200  # this session lives
    r = await client.get("/users/me", headers={"Authorization": f"Bearer {other['access_token']}"})
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    r = await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    assert (
        await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    ).status_code == 401
    assert (
        await client.post("/auth/login", json={"email": account.email, "password": new_password})
    ).status_code == 200


async def test_password_change_refused_for_api_keys(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    key = await account.api_key(["*"])
    r = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "another long one"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def test_expired_access_token(
    make_account: Callable[..., Any], client: httpx.AsyncClient, settings: Settings
) -> None:
    account: Account = await make_account()
    claims = _claims(account.token)
    claims["exp"] = int((datetime.now(UTC) - timedelta(seconds=5)).timestamp())
    expired = jwt.encode(claims, settings.resolved_secret_key(), algorithm="HS256")
    err = assert_envelope(
        await client.get("/users/me", headers={"Authorization": f"Bearer {expired}"}),
        401,
        "AUTHENTICATION_FAILED",
    )
    assert "expired" in err["message"]


async def test_tampered_token(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    victim: Account = await make_account()
    header, _payload, signature = account.token.split(".")
    claims = _claims(account.token)
    claims["sub"] = victim.id
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    forged = f"{header}.{forged_payload}.{signature}"
    r = await client.get("/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    # Signed with another key:
    other_key = jwt.encode(claims, "not-the-server-key-" + "y" * 40, algorithm="HS256")
    assert_envelope(
        await client.get("/users/me", headers={"Authorization": f"Bearer {other_key}"}),
        401,
        "AUTHENTICATION_FAILED",
    )
    # Garbage:
    assert_envelope(
        await client.get("/users/me", headers={"Authorization": "Bearer not.a.jwt"}),
        401,
        "AUTHENTICATION_FAILED",
    )
    assert_envelope(
        await client.get("/users/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}),
        401,
        "AUTHENTICATION_FAILED",
    )


async def test_alg_none_refused(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    claims = _claims(account.token)

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    for alg in ("none", "None", "NONE"):
        unsigned = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."
        r = await client.get("/users/me", headers={"Authorization": f"Bearer {unsigned}"})
        assert_envelope(r, 401, "AUTHENTICATION_FAILED")


async def test_refresh_token_is_not_an_access_token(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    r = await client.get(
        "/users/me", headers={"Authorization": f"Bearer {account.tokens['refresh_token']}"}
    )
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")


async def test_disabled_user_is_cut_off_at_once(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    admin: Account = await make_account()
    await container.users.set_role_by_email(admin.email, UserRole.ADMIN)
    user: Account = await make_account()
    key = await user.api_key(["profile"])
    assert (await client.get("/users/me", headers=user.headers())).status_code == 200

    r = await client.patch(f"/users/{user.id}", json={"is_disabled": True}, headers=admin.headers())
    assert r.status_code == 200 and r.json()["is_disabled"] is True

    assert_envelope(
        await client.get("/users/me", headers=user.headers()), 401, "AUTHENTICATION_FAILED"
    )
    assert_envelope(
        await client.get("/users/me", headers={"Authorization": f"Bearer {key}"}),
        401,
        "AUTHENTICATION_FAILED",
    )
    r = await client.post("/auth/refresh", json={"refresh_token": user.tokens["refresh_token"]})
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    r = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")

    await client.patch(f"/users/{user.id}", json={"is_disabled": False}, headers=admin.headers())
    assert (
        await client.get("/users/me", headers={"Authorization": f"Bearer {key}"})
    ).status_code == 200


async def test_concurrent_registrations_of_one_email(client: httpx.AsyncClient) -> None:
    """Found by the fuzzer: concurrent writers must each get their own connection."""
    import asyncio

    body = {"email": "race@example.com", "password": PASSWORD}
    responses = await asyncio.gather(*[client.post("/auth/register", json=body) for _ in range(8)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, [r.text for r in responses]
