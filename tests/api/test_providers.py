"""Provider configs: API keys encrypted at rest and never returned; the models list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from codexos_server.container import Container
from codexos_server.llm.models import ProviderConfig
from tests.conftest import Account, assert_envelope

SECRET = "sk-test-very-secret-value-1234"


async def test_provider_key_is_encrypted_and_never_returned(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    account: Account = await make_account()
    h = account.headers()
    r = await client.post(
        "/providers",
        json={
            "name": "my-llm",
            "base_url": "https://llm.example.com/v1",
            "api_key": SECRET,
            "default_model": "big-model",
            "models": ["small-model"],
        },
        headers=h,
    )
    assert r.status_code == 201
    provider = r.json()
    assert (
        SECRET not in r.text and provider["has_api_key"] and provider["api_key_last_four"] == "1234"
    )
    listed = await client.get("/providers", headers=h)
    assert SECRET not in listed.text
    async with container.db.read() as session:
        row = await session.scalar(select(ProviderConfig))
        assert row is not None and row.api_key_encrypted and SECRET not in row.api_key_encrypted
        assert container.secrets.open(row.api_key_encrypted) == SECRET
    models = (await client.get("/models", headers=h)).json()
    ids = {m["id"] for m in models}
    assert {
        "local/gemma-3-270m",
        "scripted/scripted",
        "my-llm/big-model",
        "my-llm/small-model",
    } <= ids
    r = await client.patch(
        f"/providers/{provider['id']}", json={"api_key": "sk-new-9999"}, headers=h
    )
    assert r.json()["api_key_last_four"] == "9999"
    assert (await client.delete(f"/providers/{provider['id']}", headers=h)).status_code == 204


async def test_provider_validation_and_ownership(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    other: Account = await make_account()
    h = account.headers()
    for body in (
        {"name": "local"},
        {"name": "Bad Name"},
        {"name": "x1", "kind": "anthropic"},
        {"name": "x2", "base_url": "not a url"},
    ):
        assert_envelope(
            await client.post("/providers", json=body, headers=h), 422, "VALIDATION_ERROR"
        )
    p = (await client.post("/providers", json={"name": "dup"}, headers=h)).json()
    assert_envelope(
        await client.post("/providers", json={"name": "dup"}, headers=h), 409, "CONFLICT"
    )
    assert_envelope(
        await client.get(f"/providers/{p['id']}", headers=other.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_envelope(
        await client.delete(f"/providers/{p['id']}", headers=other.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )


async def test_a_workspace_provider_pointing_inside_is_refused(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    """A user's provider config must not turn the server into a proxy to internal services."""
    account: Account = await make_account()
    h = account.headers()
    await client.post(
        "/providers",
        json={"name": "sneaky", "base_url": "http://169.254.169.254/v1", "default_model": "m"},
        headers=h,
    )
    agent = (
        await client.post("/agents", json={"name": "x", "model": {"provider": "sneaky"}}, headers=h)
    ).json()
    run = (
        await client.post(f"/agents/{agent['id']}/execute", json={"input_data": "hi"}, headers=h)
    ).json()
    assert run["status"] == "failed"
    assert (
        "169.254.169.254" in run["error"]["message"] or "private" in run["error"]["message"].lower()
    )
