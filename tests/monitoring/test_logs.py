"""Structured request logs: each request logs its id, route, status, duration, user and
workspace as JSON, and never the password of a login or the API key of a call."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from codexos_server.log import configure_logging
from tests.conftest import PASSWORD, Account


async def test_login_and_api_key_calls_log_no_secrets(
    client: httpx.AsyncClient,
    make_account: Callable[..., Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    account: Account = await make_account()
    key = await account.api_key(["agents:read"])
    configure_logging("INFO", "json")
    capfd.readouterr()
    r = await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    assert r.status_code == 200
    token = r.json()["access_token"]
    r = await client.get("/agents", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    bad = await client.post(
        "/auth/login", json={"email": account.email, "password": PASSWORD + "-wrong"}
    )
    assert bad.status_code == 401
    logging.getLogger().handlers[0].flush()
    out, err = capfd.readouterr()
    text = out + err
    for secret in (PASSWORD, key, token, key[-12:]):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    by_route = {line["route"]: line for line in requests}
    assert {"/api/v1/auth/login", "/api/v1/agents"} <= set(by_route)
    call = by_route["/api/v1/agents"]
    assert call["status"] == 200 and call["request_id"].startswith("req_")
    assert call["user_id"] == account.id and call["workspace_id"]
    assert call["duration_ms"] >= 0 and call["level"] == "info"
