"""The monitoring API against the stored records: summary percentiles equal a direct
computation over the request records (within the histogram's 2%), before and after the
roll-up and across a restart; runs, tokens, cost, agent stats, usage by API key (JSON, CSV);
system status for admins; refusals."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from codexos_server.container import Container
from codexos_server.db.base import utcnow
from codexos_server.monitoring.histogram import exact_percentile
from codexos_server.monitoring.models import RequestLog
from tests.conftest import Account, assert_envelope
from tests.marketplace.helpers import admin_account

AGENT = {
    "name": "Counter",
    "instructions": "Count.",
    "model": {"provider": "scripted", "options": {"script": [{"content": "one two three"}]}},
}


async def _records(container: Container, workspace_id: str) -> list[Any]:
    assert container.request_recorder is not None
    await container.request_recorder.flush()
    async with container.db.read() as session:
        rows = await session.execute(
            select(RequestLog.duration_ms, RequestLog.status, RequestLog.route).where(
                RequestLog.workspace_id == workspace_id
            )
        )
        return list(rows.all())


def _close(approx: float | None, exact: float | None) -> bool:
    assert approx is not None and exact is not None
    return exact <= approx + 0.01 and approx <= exact * 1.02 + 0.011


async def _summary(http: httpx.AsyncClient, account: Account, window: str = "1h") -> Any:
    r = await http.get(f"/monitoring/metrics?window={window}", headers=account.headers())
    assert r.status_code == 200, r.text
    return r.json()


async def test_summary_matches_the_records_and_survives_rollup_and_restart(
    client: httpx.AsyncClient,
    make_account: Callable[..., Any],
    container: Container,
    client_factory: Callable[..., Any],
) -> None:
    account: Account = await make_account()
    ws = await account.personal_workspace()
    h = account.headers()
    agent = (await client.post("/agents", json=AGENT, headers=h)).json()
    for i in range(30):
        await client.get("/agents", headers=h)
        await client.get(f"/agents/{agent['id']}", headers=h)
        if i % 5 == 0:
            await client.get("/agents/nope", headers=h)  # 404
    rows = await _records(container, ws)
    durations = [r.duration_ms for r in rows]
    assert len(rows) >= 30 * 2 + 6
    assert {r.route for r in rows} >= {"/api/v1/agents", "/api/v1/agents/{agent_id}"}

    def check(summary: Any) -> None:
        requests = summary["requests"]
        assert requests["count"] == len(rows)
        assert requests["client_errors"] == sum(1 for r in rows if 400 <= r.status < 500)
        assert requests["server_errors"] == 0 and requests["error_rate"] == 0
        for q, name in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
            assert _close(requests["latency"][name], exact_percentile(durations, q)), (
                name,
                requests["latency"][name],
                exact_percentile(durations, q),
            )

    before = await _summary(client, account)
    check(before)
    # Roll everything up (as if two minutes passed): the numbers do not move.
    await container.monitoring.rollup.run(now=utcnow() + timedelta(minutes=2))
    async with container.db.read() as session:
        marks = await container.monitoring.rollup.watermarks(session)
    assert marks["requests"] is not None and marks["requests"] > utcnow()
    rolled = await _summary(client, account)
    check(rolled)
    assert rolled["requests"]["latency"] == before["requests"]["latency"]
    # A restarted server (a new app and container on the same database) agrees.
    restarted = await client_factory()
    check(await _summary(restarted, account))


async def test_runs_tokens_cost_agent_stats_and_usage(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    account: Account = await make_account()
    h = account.headers()
    agent = (await client.post("/agents", json=AGENT, headers=h)).json()
    broken = (
        await client.post(
            "/agents",
            json={
                **AGENT,
                "name": "Broken",
                "model": {"provider": "scripted", "options": {"script": [{"error": "down"}]}},
            },
            headers=h,
        )
    ).json()
    key = await account.api_key(["agents:execute", "agents:read"])
    runs = []
    for headers in (h, h, {"Authorization": f"Bearer {key}"}):
        r = await client.post(
            f"/agents/{agent['id']}/execute", json={"input_data": "go"}, headers=headers
        )
        runs.append(r.json())
    failed = await client.post(
        f"/agents/{broken['id']}/execute", json={"input_data": "go"}, headers=h
    )
    assert failed.json()["status"] == "failed"
    tokens = sum(run["usage"]["total_tokens"] for run in runs)
    assert tokens > 0
    summary = await _summary(client, account, "24h")
    assert summary["runs"]["count"] == 4
    assert summary["runs"]["by_status"] == {"succeeded": 3, "failed": 1}
    assert summary["runs"]["tokens"]["total"] == tokens
    assert [a["agent_id"] for a in summary["top_agents"]] == [agent["id"], broken["id"]]
    assert summary["top_agents"][0]["name"] == "Counter"
    stats = (
        await client.get(f"/monitoring/agents/{agent['id']}/stats?window=7d", headers=h)
    ).json()
    assert stats["runs"] == 3 and stats["success_rate"] == 1.0
    assert stats["tokens"]["total"] == tokens
    assert stats["days"][0]["runs"] == 3 and stats["latency"]["p50_ms"] is not None
    # The roll-up keeps the same answers.
    await container.monitoring.rollup.run(now=utcnow() + timedelta(minutes=2))
    assert (await _summary(client, account, "24h"))["runs"] == summary["runs"]
    usage = (await client.get("/monitoring/usage", headers=h)).json()
    by_key = {(row["agent_id"], row["api_key_id"]): row for row in usage["rows"]}
    key_id = next(k for (_, k) in by_key if k is not None)
    assert by_key[(agent["id"], None)]["runs"] == 2
    assert by_key[(agent["id"], key_id)]["runs"] == 1
    assert usage["totals"]["total"] == tokens
    r = await client.get("/monitoring/usage?format=csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert sum(int(row["total_tokens"]) for row in table) == tokens
    assert {row["api_key_id"] for row in table} == {"", key_id}
    # Another workspace's agent is not found; bad windows and formats are refused.
    other: Account = await make_account()
    r = await client.get(f"/monitoring/agents/{agent['id']}/stats", headers=other.headers())
    assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    assert (await _summary(client, other, "24h"))["runs"]["count"] == 0
    for url in ("/monitoring/metrics?window=2h", "/monitoring/usage?format=xml"):
        assert_envelope(await client.get(url, headers=h), 422, "VALIDATION_ERROR")
    scoped = await account.api_key(["agents:read"])
    r = await client.get("/monitoring/metrics", headers={"Authorization": f"Bearer {scoped}"})
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")


async def test_system_status_is_for_admins(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    user: Account = await make_account()
    admin = await admin_account(make_account, container)
    assert_envelope(
        await client.get("/monitoring/system", headers=user.headers()),
        403,
        "AUTHORIZATION_FAILED",
    )
    r = await client.get("/monitoring/system", headers=admin.headers())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["database"]["status"] == "ok"
    assert body["version"] and body["uptime_seconds"] >= 0
    assert body["memory_rss_bytes"] is None or body["memory_rss_bytes"] > 0
    assert body["broker"]["status"] in ("ok", "not_configured")
    assert isinstance(body["queue"], dict) and isinstance(body["workers"], list)
