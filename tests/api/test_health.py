"""Liveness and readiness."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import assert_envelope


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = await client.get("/ready")
    assert r.status_code == 200 and r.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_ready_reports_an_unreachable_redis(client_factory: Callable[..., Any]) -> None:
    http = await client_factory(redis_url="redis://127.0.0.1:1/0", rate_limit_enabled=False)
    r = await http.get("/ready")
    err = assert_envelope(r, 503, "SERVICE_UNAVAILABLE")
    assert err["details"]["database"] == "ok"
    assert err["details"]["redis"].startswith("error")
