"""The seed's Quick Start, steps 1 and 2, as a user would run it against /api/v1."""

from __future__ import annotations

import httpx

from tests.conftest import PASSWORD


async def test_register_login_and_get_profile(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/auth/register", json={"email": "Your-Email@Example.com", "password": PASSWORD}
    )
    assert r.status_code == 201

    # Step 1: "Login to get your access token"
    r = await client.post(
        "/auth/login",
        headers={"Content-Type": "application/json"},
        json={"email": "your-email@example.com", "password": PASSWORD},
    )
    assert r.status_code == 200
    tokens = r.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    assert tokens["access_token"] and tokens["refresh_token"]

    # Step 2: "Get your user profile"
    r = await client.get("/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert r.status_code == 200
    me = r.json()
    assert me["email"] == "your-email@example.com"
    assert me["tier"] == "free" and me["role"] == "user"
    for header in (
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-request-id",
    ):
        assert header in r.headers


async def test_api_key_calls_the_api_like_a_token(client: httpx.AsyncClient) -> None:
    await client.post("/auth/register", json={"email": "k@example.com", "password": PASSWORD})
    login = (
        await client.post("/auth/login", json={"email": "k@example.com", "password": PASSWORD})
    ).json()
    r = await client.post(
        "/auth/api-keys",
        json={"name": "laptop", "scopes": ["profile"]},
        headers={"Authorization": f"Bearer {login['access_token']}"},
    )
    assert r.status_code == 201
    key = r.json()["key"]
    assert key.startswith("cxo_")
    r = await client.get("/users/me", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    assert r.json()["email"] == "k@example.com"
