"""Prometheus metrics after real requests: `/metrics` parsed with the Prometheus text parser,
counters and histograms moved by exactly what the requests did (route templates, never raw
paths), agent runs, model calls, tokens and cost, jobs, ingestion, WebSocket connections and
the database pool; unauthenticated scrapes refused with the error envelope.

Every app has its own registry, so each test reads only its own app's numbers; the
multi-process mode (several uvicorn workers) is tested in test_prometheus_multiprocess.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from codexos_server.app import create_app
from codexos_server.config import Settings
from codexos_server.container import Container, build_container
from codexos_server.db.base import new_id
from codexos_server.jobs.models import Job
from codexos_server.monitoring.prometheus import NullMetrics, PrometheusMetrics
from codexos_server.monitoring.requests import UNMATCHED_ROUTE
from tests.api.test_knowledge import add_text, make_kb
from tests.conftest import Account, assert_envelope
from tests.realtime.conftest import serve

TOKEN = "scrape-secret-0123456789"
SCRAPE = "http://testserver/metrics"
AGENT_ROUTE = "/api/v1/agents/{agent_id}"
PRICES = {"scripted": (1.5, 4.0)}  # USD per 1K tokens (input, output)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(metrics_token=TOKEN, llm_prices=PRICES)


async def scrape(http: httpx.AsyncClient, url: str = SCRAPE) -> Samples:
    r = await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def make_agent(client: httpx.AsyncClient, account: Account, **extra: Any) -> str:
    body = {"name": "m", "model": {"provider": "scripted"}, **extra}
    r = await client.post("/agents", json=body, headers=account.headers())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_requests_by_route_template(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    first, second = await make_agent(client, account), await make_agent(client, account)
    before = await scrape(client)
    for agent_id in (first, second):
        r = await client.get(f"/agents/{agent_id}", headers=account.headers())
        assert r.status_code == 200
    r = await client.get("/agents/agt_does_not_exist", headers=account.headers())
    assert r.status_code == 404
    r = await client.get("/no/such/path")
    assert r.status_code == 404
    after = await scrape(client)

    ok = {"method": "GET", "route": AGENT_ROUTE, "status": "200"}
    assert delta(before, after, "codexos_http_requests_total", **ok) == 2
    assert delta(before, after, "codexos_http_request_duration_seconds_count", **ok) == 2
    assert (
        delta(before, after, "codexos_http_request_duration_seconds_bucket", le="+Inf", **ok) == 2
    )
    assert delta(before, after, "codexos_http_request_errors_total", **ok) == 0
    missing = {"method": "GET", "route": AGENT_ROUTE, "status": "404"}
    assert delta(before, after, "codexos_http_requests_total", **missing) == 1
    assert delta(before, after, "codexos_http_request_errors_total", **missing) == 1
    unmatched = {"method": "GET", "route": UNMATCHED_ROUTE, "status": "404"}
    assert delta(before, after, "codexos_http_requests_total", **unmatched) == 1
    assert delta(before, after, "codexos_http_request_errors_total", **unmatched) == 1
    # The previous scrape was counted too, under its own template.
    scraped = {"method": "GET", "route": "/metrics", "status": "200"}
    assert delta(before, after, "codexos_http_requests_total", **scraped) == 1

    # One series per template: no raw path, id or user anywhere in the labels.
    label_values = {v for _, labels in after for _, v in labels}
    for raw in (first, second, "agt_does_not_exist", "/no/such/path", account.id):
        assert not any(raw in v for v in label_values), raw
    assert value(after, "codexos_http_requests_in_flight") == 1  # the scrape itself


async def test_methods_are_a_closed_set(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/health")
    samples = await scrape(client)
    methods = {
        dict(labels)["method"] for name, labels in samples if name == "codexos_http_requests_total"
    }
    assert "OTHER" in methods and "BREW" not in methods


async def test_agent_runs_model_calls_tokens_and_cost(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    script = [
        {"tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}]},
        {"content": "the answer is forty two"},
    ]
    agent_id = await make_agent(
        client,
        account,
        type="tool",
        tools=[{"name": "calculator"}],
        model={"provider": "scripted", "options": {"script": script}},
    )
    down = {"provider": "scripted", "options": {"script": [{"error": "the provider is down"}]}}
    failing = await make_agent(client, account, model=down)
    before = await scrape(client)
    r = await client.post(
        f"/agents/{agent_id}/execute", json={"input_data": "six times 7"}, headers=account.headers()
    )
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    run = r.json()
    r = await client.post(
        f"/agents/{failing}/execute", json={"input_data": "hi"}, headers=account.headers()
    )
    assert r.status_code == 200 and r.json()["status"] == "failed", r.text
    after = await scrape(client)

    assert delta(before, after, "codexos_agent_runs_total", status="succeeded") == 1
    assert delta(before, after, "codexos_agent_runs_total", status="failed") == 1
    scripted = {"provider": "scripted"}
    assert delta(before, after, "codexos_model_calls_total", outcome="ok", **scripted) == 2
    assert delta(before, after, "codexos_model_calls_total", outcome="error", **scripted) == 1
    assert delta(before, after, "codexos_model_call_duration_seconds_count", **scripted) == 3
    usage = run["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    tokens_in = delta(before, after, "codexos_model_tokens_total", direction="input", **scripted)
    tokens_out = delta(before, after, "codexos_model_tokens_total", direction="output", **scripted)
    assert (tokens_in, tokens_out) == (usage["prompt_tokens"], usage["completion_tokens"])
    price_in, price_out = PRICES["scripted"]
    expected = (
        usage["prompt_tokens"] / 1000 * price_in + usage["completion_tokens"] / 1000 * price_out
    )
    assert run["cost"] == pytest.approx(expected)
    assert delta(before, after, "codexos_agent_run_cost_usd_total") == pytest.approx(expected)


async def test_background_jobs_and_queue_depth(
    client: httpx.AsyncClient, container: Container, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    agent_id = await make_agent(
        client, account, model={"provider": "scripted", "options": {"script": [{"content": "ok"}]}}
    )
    job = {"kind": "agent.run", "status": "succeeded"}
    before = await scrape(client)
    r = await client.post(
        f"/agents/{agent_id}/execute",
        json={"input_data": "later", "async": True},
        headers=account.headers(),
    )
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while True:  # the job is settled just after the run it ran
        after = await scrape(client)
        if delta(before, after, "codexos_job_duration_seconds_count", **job) >= 1:
            break
        assert time.monotonic() < deadline, "the job never showed up in the metrics"
        await asyncio.sleep(0.05)
    assert delta(before, after, "codexos_job_duration_seconds_count", **job) == 1
    assert delta(before, after, "codexos_job_duration_seconds_bucket", le="+Inf", **job) == 1
    assert delta(before, after, "codexos_agent_runs_total", status="succeeded") == 1

    # Queue depth is read from the job table at scrape time: a job of a kind no runner
    # here handles stays queued.
    for kind in ("agent.run", "rag.ingest"):
        assert (
            "codexos_job_queue_depth",
            frozenset({("kind", kind), ("status", "queued")}),
        ) in after
    async with container.db.transaction() as session:
        session.add(Job(id=new_id(), kind="monitoring.test", status="queued", payload={}))
        session.add(Job(id=new_id(), kind="monitoring.test", status="queued", payload={}))
    samples = await scrape(client)
    assert value(samples, "codexos_job_queue_depth", kind="monitoring.test", status="queued") == 2
    assert value(samples, "codexos_job_queue_depth", kind="monitoring.test", status="running") == 0


async def test_ingestion_throughput(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    kb = await make_kb(client, account)
    before = await scrape(client)
    doc = await add_text(client, account, kb["id"], "Kayaks float. " * 200)
    assert doc["status"] == "indexed", doc
    deadline = time.monotonic() + 10
    while True:  # counted when the job handler returns, just after the status is written
        after = await scrape(client)
        if delta(before, after, "codexos_ingest_documents_total") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert delta(before, after, "codexos_ingest_documents_total") == 1
    assert delta(before, after, "codexos_ingest_chunks_total") == doc["chunk_count"] > 0
    job = {"kind": "rag.ingest", "status": "succeeded"}
    assert delta(before, after, "codexos_job_duration_seconds_count", **job) == 1


async def test_database_pool(client: httpx.AsyncClient, container: Container) -> None:
    samples = await scrape(client)
    assert value(samples, "codexos_db_pool_size") == container.settings.database_pool_size
    assert value(samples, "codexos_db_pool_connections", state="open") >= 1
    async with container.db.read_connection(), container.db.read_connection():
        held = await scrape(client)
    assert value(held, "codexos_db_pool_connections", state="in_use") >= 2
    deadline = time.monotonic() + 10
    while True:  # background loops (job polls, record flushes) hold connections briefly
        after = await scrape(client)
        in_use = value(after, "codexos_db_pool_connections", state="in_use")
        if in_use <= value(held, "codexos_db_pool_connections", state="in_use") - 2:
            break
        assert time.monotonic() < deadline, "the two connections were never counted back in"
        await asyncio.sleep(0.05)
    assert 0 <= in_use <= value(after, "codexos_db_pool_connections", state="open")


async def test_websocket_connections(
    settings: Settings, container: Container, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    own = build_container(settings)
    server, task, port = await serve(create_app(settings, own))
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            assert (
                value(await scrape(http, f"{base}/metrics"), "codexos_websocket_connections") == 0
            )
            async with connect(f"ws://127.0.0.1:{port}/api/v1/ws", open_timeout=10) as ws:
                await ws.send(json.dumps({"type": "auth", "token": account.token}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "auth.ok"
                samples = await scrape(http, f"{base}/metrics")
                assert value(samples, "codexos_websocket_connections") == 1
            deadline = time.monotonic() + 10
            while value(await scrape(http, f"{base}/metrics"), "codexos_websocket_connections"):
                assert time.monotonic() < deadline, "the closed connection is still counted"
                await asyncio.sleep(0.05)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def test_scrapes_without_the_token_are_refused(
    client: httpx.AsyncClient, client_factory: Callable[..., Any], make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        account.headers(),  # a user's credential is not the scrape token
    ):
        r = await client.get(SCRAPE, headers=headers)
        error = assert_envelope(r, 401, "AUTHENTICATION_FAILED")
        assert "metrics token" in error["message"]
        assert TOKEN not in r.text

    unset = await client_factory(metrics_token=None)
    r = await unset.get(SCRAPE, headers={"Authorization": f"Bearer {TOKEN}"})
    error = assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    assert "CODEXOS_METRICS_TOKEN" in error["message"]


async def test_scrapes_are_not_rate_limited(client_factory: Callable[..., Any]) -> None:
    http = await client_factory(metrics_token=TOKEN, rate_limit_anonymous=2)
    for _ in range(5):
        r = await http.get(SCRAPE, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        assert "x-ratelimit-limit" not in r.headers
    assert (await http.get("/no/such/path")).status_code == 404
    assert (await http.get("/no/such/path")).status_code == 404
    assert_envelope(await http.get("/no/such/path"), 429, "RATE_LIMIT_EXCEEDED")


async def test_not_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/metrics" not in paths  # (/api/v1/monitoring/metrics is the JSON summary)


async def test_each_app_counts_its_own_requests(
    client: httpx.AsyncClient, client_factory: Callable[..., Any]
) -> None:
    other = await client_factory(metrics_token=TOKEN)
    for _ in range(3):
        await other.get("/health")
    ours = await scrape(client)
    theirs = await scrape(other)
    health = {"method": "GET", "route": "/api/v1/health", "status": "200"}
    assert value(theirs, "codexos_http_requests_total", **health) == 3
    assert value(ours, "codexos_http_requests_total", **health) == 0


async def test_monitoring_off_collects_nothing(
    settings_factory: Callable[..., Settings], client_factory: Callable[..., Any]
) -> None:
    off = build_container(settings_factory(monitoring_enabled=False, metrics_token=TOKEN))
    try:
        assert isinstance(off.metrics, NullMetrics)
        assert not any(isinstance(o, PrometheusMetrics) for o in off.request_observers)
    finally:
        await off.close()
    http = await client_factory(monitoring_enabled=False, metrics_token=TOKEN)
    r = await http.get(SCRAPE, headers={"Authorization": f"Bearer {TOKEN}"})
    assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
