"""Rate limits: headers on every response, the 429, tiers, anonymous callers, and several
app instances sharing one Redis budget."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Account, assert_envelope, register


async def test_headers_count_down(client_factory: Callable[..., Any]) -> None:
    http = await client_factory(rate_limit_free=50)
    account = await register(http)
    r1 = await http.get("/users/me", headers=account.headers())
    r2 = await http.get("/users/me", headers=account.headers())
    assert r1.headers["x-ratelimit-limit"] == "50"
    assert int(r2.headers["x-ratelimit-remaining"]) == int(r1.headers["x-ratelimit-remaining"]) - 1
    assert 0 < int(r2.headers["x-ratelimit-reset"]) <= 3600


async def test_429_with_retry_after(client_factory: Callable[..., Any]) -> None:
    http = await client_factory(rate_limit_free=5, rate_limit_anonymous=1000)
    account = await register(http)
    statuses = [
        (await http.get("/users/me", headers=account.headers())).status_code for _ in range(6)
    ]
    assert statuses[:5] == [200] * 5
    r = await http.get("/users/me", headers=account.headers())
    err = assert_envelope(r, 429, "RATE_LIMIT_EXCEEDED")
    assert err["details"]["limit"] == 5
    assert 0 < int(r.headers["retry-after"]) <= 3600
    assert r.headers["x-ratelimit-remaining"] == "0"
    # Errors count too: the budget is per request, whatever the outcome.
    assert_envelope(
        await http.get("/no/such/route", headers=account.headers()), 429, "RATE_LIMIT_EXCEEDED"
    )
    # Health probes are never limited.
    assert (await http.get("/health", headers=account.headers())).status_code == 200


async def test_tiers_and_custom_limits(client_factory: Callable[..., Any], container: Any) -> None:
    http = await client_factory(rate_limit_free=7, rate_limit_pro=70, rate_limit_enterprise=700)
    account = await register(http)
    assert (await http.get("/users/me", headers=account.headers())).headers[
        "x-ratelimit-limit"
    ] == "7"
    from codexos_server.users.models import Tier

    await container.users.set_tier_by_email(account.email, Tier.PRO, None)
    assert (await http.get("/users/me", headers=account.headers())).headers[
        "x-ratelimit-limit"
    ] == "70"
    await container.users.set_tier_by_email(account.email, Tier.ENTERPRISE, None)
    assert (await http.get("/users/me", headers=account.headers())).headers[
        "x-ratelimit-limit"
    ] == "700"
    await container.users.set_tier_by_email(account.email, Tier.ENTERPRISE, 12345)
    assert (await http.get("/users/me", headers=account.headers())).headers[
        "x-ratelimit-limit"
    ] == "12345"


async def test_anonymous_limited_per_ip(client_factory: Callable[..., Any]) -> None:
    http = await client_factory(rate_limit_anonymous=3)
    for _ in range(3):
        r = await http.get("/auth/scopes")
        assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "3"
    assert_envelope(await http.get("/auth/scopes"), 429, "RATE_LIMIT_EXCEEDED")
    # Another address has its own budget.
    transport = http._transport  # the same app, seen from another client address
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=transport.app, client=("10.9.8.7", 1234)),  # type: ignore[attr-defined]
        base_url="http://testserver/api/v1",
    )
    async with other:
        assert (await other.get("/auth/scopes")).status_code == 200


async def test_invalid_credentials_are_charged_to_the_ip(
    client_factory: Callable[..., Any],
) -> None:
    http = await client_factory(rate_limit_anonymous=2)
    bad = {"Authorization": "Bearer cxo_invalid"}
    assert_envelope(await http.get("/users/me", headers=bad), 401, "AUTHENTICATION_FAILED")
    assert_envelope(await http.get("/users/me", headers=bad), 401, "AUTHENTICATION_FAILED")
    assert_envelope(await http.get("/users/me", headers=bad), 429, "RATE_LIMIT_EXCEEDED")


@pytest.mark.redis
async def test_two_instances_share_one_redis_budget(
    client_factory: Callable[..., Any], redis_url: str
) -> None:
    node_a = await client_factory(redis_url=redis_url, rate_limit_free=6)
    node_b = await client_factory(redis_url=redis_url, rate_limit_free=6)
    account: Account = await register(node_a, f"shared-{uuid.uuid4().hex[:8]}@example.com")
    seen = []
    for i in range(6):
        node = node_a if i % 2 == 0 else node_b
        r = await node.get("/users/me", headers=account.headers())
        assert r.status_code == 200
        seen.append(int(r.headers["x-ratelimit-remaining"]))
    assert seen == [5, 4, 3, 2, 1, 0]
    assert_envelope(
        await node_b.get("/users/me", headers=account.headers()), 429, "RATE_LIMIT_EXCEEDED"
    )
    assert_envelope(
        await node_a.get("/users/me", headers=account.headers()), 429, "RATE_LIMIT_EXCEEDED"
    )
