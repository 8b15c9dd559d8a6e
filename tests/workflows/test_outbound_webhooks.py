"""Outbound webhooks against a real HTTP server on 127.0.0.1: a run's outcome is POSTed,
signed with the target's secret, and retried with backoff until the receiver accepts it;
every attempt is recorded and listable."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from codexos_server.config import Settings
from codexos_server.container import Container
from codexos_server.workflows.webhooks import MAX_RETRY_DELAY_SECONDS
from tests.agents.local_http_server import LocalHTTPServer, SeenRequest, _respond
from tests.conftest import Account, assert_envelope
from tests.workflows.helpers import create_workflow, start, wait_run

SPEC = {
    "nodes": [
        {"id": "in", "type": "input"},
        {"id": "out", "type": "output", "config": {"value": "{{ inputs }}"}},
    ],
    "edges": [{"source": "in", "target": "out"}],
}
FAILING_SPEC = {
    "nodes": [
        {"id": "in", "type": "input"},
        {"id": "boom", "type": "template", "config": {"template": "{{ inputs.missing.deeper }}"}},
    ],
    "edges": [{"source": "in", "target": "boom"}],
}


@dataclass
class Receiver(LocalHTTPServer):
    """Answers each POST with the next status of `answers` (then 200)."""

    answers: list[int] = field(default_factory=list)

    async def _route(self, seen: SeenRequest, writer: asyncio.StreamWriter) -> None:
        status = self.answers.pop(0) if self.answers else 200
        _respond(writer, status, b'{"ok": true}', "application/json")
        await writer.drain()


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        scheduler_enabled=False,
        http_allowed_hosts=["127.0.0.1"],
        webhook_retry_base_seconds=0.05,
        webhook_max_attempts=3,
        job_poll_seconds=0.05,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as server:
        yield server


async def _target(
    client: httpx.AsyncClient, account: Account, workflow_id: str, url: str, events: list[str]
) -> dict[str, Any]:
    r = await client.post(
        f"/workflows/{workflow_id}/webhooks",
        json={"url": url, "events": events},
        headers=account.headers(),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _deliveries(
    client: httpx.AsyncClient, account: Account, workflow_id: str, run_id: str, count: int
) -> list[dict[str, Any]]:
    """Wait until `count` attempts are recorded; oldest first."""
    deadline = time.monotonic() + 30
    while True:
        r = await client.get(
            f"/workflows/{workflow_id}/webhooks/deliveries",
            params={"run_id": run_id},
            headers=account.headers(),
        )
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if len(items) >= count:
            return sorted(items, key=lambda d: d["attempt"])
        assert time.monotonic() < deadline, f"only {len(items)} deliveries: {items}"
        await asyncio.sleep(0.05)


def _verify(secret: str, request: SeenRequest) -> None:
    ts = request.headers["x-codexos-timestamp"]
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + request.body, hashlib.sha256)
    assert request.headers["x-codexos-signature"] == "sha256=" + expected.hexdigest()
    assert abs(time.time() - int(ts)) < 60


async def test_delivery_is_retried_until_accepted(
    client: httpx.AsyncClient, make_account: Callable[..., Any], receiver: Receiver
) -> None:
    account: Account = await make_account()
    wf = (await create_workflow(client, account, SPEC))["id"]
    receiver.answers = [500, 500]
    target = await _target(client, account, wf, f"{receiver.base}/hook", ["run.succeeded"])
    assert target["secret"].startswith("whsec_") and target["id"]
    assert target["events"] == ["run.succeeded"]

    run = await start(client, account, wf, {"order": 7})
    done = await wait_run(client, account, run["id"])
    assert done["status"] == "succeeded"
    deliveries = await _deliveries(client, account, wf, run["id"], 3)
    assert [d["attempt"] for d in deliveries] == [1, 2, 3]
    assert [d["status_code"] for d in deliveries] == [500, 500, 200]
    assert [d["delivered"] for d in deliveries] == [False, False, True]
    assert deliveries[0]["error"] and deliveries[2]["error"] is None
    assert all(d["event"] == "run.succeeded" and d["url"] == target["url"] for d in deliveries)
    assert all(d["duration_ms"] is not None for d in deliveries)

    await asyncio.sleep(0.3)  # nothing after the accepted attempt
    assert len(receiver.requests) == 3
    bodies = [json.loads(seen.body) for seen in receiver.requests]
    for seen, body in zip(receiver.requests, bodies, strict=True):
        assert seen.method == "POST" and seen.path == "/hook"
        _verify(target["secret"], seen)
        assert seen.headers["x-codexos-event"] == "run.succeeded"
        assert seen.headers["content-type"] == "application/json"
        assert body["event"] == "run.succeeded"
        assert body["run"]["id"] == run["id"] and body["run"]["status"] == "succeeded"
        assert body["run"]["output"] == {"order": 7} and body["workflow"]["id"] == wf
    assert len({b["id"] for b in bodies}) == 1  # one event: receivers deduplicate on its id
    assert [s.headers["x-codexos-delivery"] for s in receiver.requests] == [
        d["id"] for d in deliveries
    ]


async def test_retries_stop_after_max_attempts(
    client: httpx.AsyncClient, make_account: Callable[..., Any], receiver: Receiver
) -> None:
    account: Account = await make_account()
    wf = (await create_workflow(client, account, FAILING_SPEC))["id"]
    receiver.answers = [503] * 10
    target = await _target(client, account, wf, f"{receiver.base}/down", ["run.failed"])
    run = await start(client, account, wf, {})
    assert (await wait_run(client, account, run["id"]))["status"] == "failed"
    deliveries = await _deliveries(client, account, wf, run["id"], 3)
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 3
    assert [d["status_code"] for d in deliveries] == [503, 503, 503]
    assert not any(d["delivered"] for d in deliveries)
    body = json.loads(receiver.requests[0].body)
    assert body["event"] == "run.failed" and body["run"]["error"]
    _verify(target["secret"], receiver.requests[0])


async def test_unreachable_receiver_is_recorded_and_retried(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    wf = (await create_workflow(client, account, SPEC))["id"]
    async with Receiver() as gone:
        url = f"{gone.base}/hook"
    await _target(client, account, wf, url, ["run.succeeded"])  # the port is closed now
    run = await start(client, account, wf, {})
    deliveries = await _deliveries(client, account, wf, run["id"], 3)
    assert [d["status_code"] for d in deliveries] == [None, None, None]
    assert all(d["error"] and not d["delivered"] for d in deliveries)


async def test_only_subscribed_events_are_delivered(
    client: httpx.AsyncClient, make_account: Callable[..., Any], receiver: Receiver
) -> None:
    account: Account = await make_account()
    wf = (await create_workflow(client, account, SPEC))["id"]
    await _target(client, account, wf, f"{receiver.base}/failures", ["run.failed"])
    await _target(client, account, wf, f"{receiver.base}/all", ["run.succeeded", "run.failed"])
    run = await start(client, account, wf, {})
    await wait_run(client, account, run["id"])
    [delivery] = await _deliveries(client, account, wf, run["id"], 1)
    await asyncio.sleep(0.3)
    assert delivery["url"].endswith("/all") and delivery["delivered"] is True
    assert [seen.path for seen in receiver.requests] == ["/all"]


async def test_target_management(
    client: httpx.AsyncClient,
    container: Container,
    make_account: Callable[..., Any],
    receiver: Receiver,
) -> None:
    owner: Account = await make_account()
    other: Account = await make_account()
    wf = (await create_workflow(client, owner, SPEC))["id"]
    base = f"/workflows/{wf}/webhooks"
    first = await _target(client, owner, wf, f"{receiver.base}/a", ["run.succeeded"])
    r = await client.post(base, json={"url": f"{receiver.base}/b"}, headers=owner.headers())
    assert r.status_code == 201 and r.json()["events"] == ["run.succeeded", "run.failed"]
    second = r.json()

    r = await client.get(base, headers=owner.headers())
    assert [t["id"] for t in r.json()] == [first["id"], second["id"]]
    assert all("secret" not in t and "secret_encrypted" not in t for t in r.json())
    r = await client.get(f"/workflows/{wf}", headers=owner.headers())
    assert all("secret_encrypted" not in t for t in r.json()["webhooks"])

    for bad in [
        {"url": "ftp://example.com/x"},
        {"url": "not a url"},
        {"url": "http://10.0.0.1/hook"},
        {"url": "http://169.254.169.254/latest"},
        {"url": "https://example.com/x", "events": ["run.started"]},
        {"url": "https://example.com/x", "events": []},
        {"url": "https://example.com/x", "secret": "mine"},
    ]:
        assert_envelope(
            await client.post(base, json=bad, headers=owner.headers()), 422, "VALIDATION_ERROR"
        )

    for response in [
        await client.get(base, headers=other.headers()),
        await client.post(base, json={"url": f"{receiver.base}/c"}, headers=other.headers()),
        await client.delete(f"{base}/{first['id']}", headers=other.headers()),
        await client.get(f"{base}/deliveries", headers=other.headers()),
    ]:
        assert_envelope(response, 404, "RESOURCE_NOT_FOUND")

    assert (
        await client.delete(f"{base}/{first['id']}", headers=owner.headers())
    ).status_code == 204
    assert_envelope(
        await client.delete(f"{base}/{first['id']}", headers=owner.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_envelope(
        await client.delete(f"{base}/7", headers=owner.headers()), 404, "RESOURCE_NOT_FOUND"
    )
    r = await client.get(base, headers=owner.headers())
    assert [t["id"] for t in r.json()] == [second["id"]]
    assert (await client.delete(f"{base}/0", headers=owner.headers())).status_code == 204
    assert (await client.get(base, headers=owner.headers())).json() == []
    r = await client.get(f"{base}/deliveries", headers=owner.headers())
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}


def test_retry_delay_doubles_up_to_an_hour(container: Container) -> None:
    service = container.workflow_webhooks
    base = service.retry_base_seconds
    assert [service.retry_delay(n) for n in (1, 2, 3)] == [base, base * 2, base * 4]
    assert service.retry_delay(60) == MAX_RETRY_DELAY_SECONDS
