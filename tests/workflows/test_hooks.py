"""Inbound webhooks over HTTP: a signed request starts a run; missing, wrong or stale
signatures are 401, a replay is 409, unknown tokens 404, and hooks are private to their
workspace."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from codexos_server.config import Settings
from codexos_server.container import Container
from codexos_server.db.base import utcnow
from codexos_server.workflows.hooks import MAX_HOOK_BODY_BYTES
from codexos_server.workflows.models import HookReceipt
from tests.conftest import Account, assert_envelope
from tests.workflows.helpers import create_workflow, wait_run

SPEC = {
    "nodes": [
        {"id": "in", "type": "input"},
        {"id": "out", "type": "output", "config": {"value": "{{ inputs }}"}},
    ],
    "edges": [{"source": "in", "target": "out"}],
}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(scheduler_enabled=False, hook_replay_window_seconds=60)


def signed(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """What a sender computes: the headers for `body`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-CodexOS-Timestamp": ts,
        "X-CodexOS-Signature": f"sha256={digest}",
    }


async def _hook(client: httpx.AsyncClient, account: Account) -> tuple[str, dict[str, Any]]:
    wf = await create_workflow(client, account, SPEC)
    r = await client.post(f"/workflows/{wf['id']}/hooks", headers=account.headers())
    assert r.status_code == 201, r.text
    return str(wf["id"]), dict(r.json())


def _path(hook: dict[str, Any]) -> str:
    """The hook's URL relative to the test client's /api/v1 base."""
    url = str(hook["url"])
    assert url.startswith("/api/v1/hooks/")
    return url.removeprefix("/api/v1")


async def test_a_signed_request_starts_a_run(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    wf, hook = await _hook(client, account)
    assert hook["secret"].startswith("whsec_") and hook["enabled"] is True
    body = json.dumps({"order": 42, "items": ["a", "b"]}).encode()
    r = await client.post(_path(hook), content=body, headers=signed(hook["secret"], body))
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["workflow_id"] == wf and accepted["run_id"]
    run = await wait_run(client, account, accepted["run_id"])
    assert run["status"] == "succeeded" and run["trigger"] == "webhook"
    assert run["inputs"] == run["output"] == {"order": 42, "items": ["a", "b"]}
    assert run["workflow_id"] == wf

    # an empty body is a run with no inputs; upper-case hex is the same signature
    headers = signed(hook["secret"], b"")
    headers["X-CodexOS-Signature"] = (
        headers["X-CodexOS-Signature"].upper().replace("SHA256=", "sha256=")
    )
    r = await client.post(_path(hook), content=b"", headers=headers)
    assert r.status_code == 202, r.text
    assert (await wait_run(client, account, r.json()["run_id"]))["inputs"] == {}


async def test_a_replayed_request_is_refused(
    client: httpx.AsyncClient, container: Container, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    _, hook = await _hook(client, account)
    body = b'{"n": 1}'
    headers = signed(hook["secret"], body)
    first = await client.post(_path(hook), content=body, headers=headers)
    assert first.status_code == 202, first.text
    replay = await client.post(_path(hook), content=body, headers=headers)
    assert_envelope(replay, 409, "CONFLICT")
    r = await client.get("/workflow-runs", params={"trigger": "webhook"}, headers=account.headers())
    assert [run["id"] for run in r.json()["items"]] == [first.json()["run_id"]]
    # the same body signed afresh (a new timestamp) is a new delivery
    fresh = await client.post(
        _path(hook), content=body, headers=signed(hook["secret"], body, int(time.time()) + 1)
    )
    assert fresh.status_code == 202, fresh.text


@pytest.mark.parametrize(
    "tamper",
    [
        "no_headers",
        "no_signature",
        "no_timestamp",
        "wrong_secret",
        "other_body",
        "no_prefix",
        "bad_timestamp",
        "stale",
        "future",
        "signed_other_timestamp",
    ],
)
async def test_bad_signatures_are_401(
    client: httpx.AsyncClient, make_account: Callable[..., Any], tamper: str
) -> None:
    account: Account = await make_account()
    _, hook = await _hook(client, account)
    secret, body = hook["secret"], b'{"n": 1}'
    now = int(time.time())
    headers = signed(secret, body)
    if tamper == "no_headers":
        headers = {"Content-Type": "application/json"}
    elif tamper == "no_signature":
        del headers["X-CodexOS-Signature"]
    elif tamper == "no_timestamp":
        del headers["X-CodexOS-Timestamp"]
    elif tamper == "wrong_secret":
        headers = signed("whsec_not-the-secret", body)
    elif tamper == "other_body":
        headers = signed(secret, b'{"n": 2}')
    elif tamper == "no_prefix":
        headers["X-CodexOS-Signature"] = headers["X-CodexOS-Signature"].removeprefix("sha256=")
    elif tamper == "bad_timestamp":
        headers["X-CodexOS-Timestamp"] = "yesterday"
    elif tamper == "stale":
        headers = signed(secret, body, now - 180)  # the window is 60 s either way
    elif tamper == "future":
        headers = signed(secret, body, now + 180)
    elif tamper == "signed_other_timestamp":
        headers["X-CodexOS-Timestamp"] = str(now - 1)
    r = await client.post(_path(hook), content=body, headers=headers)
    assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    r = await client.get("/workflow-runs", params={"trigger": "webhook"}, headers=account.headers())
    assert r.json()["items"] == []


async def test_unknown_token_bad_body_and_size(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    _, hook = await _hook(client, account)
    secret = hook["secret"]
    body = b'{"n": 1}'
    assert_envelope(
        await client.post("/hooks/not-a-token", content=body, headers=signed(secret, body)),
        404,
        "RESOURCE_NOT_FOUND",
    )
    for bad in [b"[1, 2]", b'"text"', b"{not json", b"\xff\xfe"]:
        r = await client.post(_path(hook), content=bad, headers=signed(secret, bad))
        assert_envelope(r, 422, "VALIDATION_ERROR")
    big = b'{"x": "' + b"a" * MAX_HOOK_BODY_BYTES + b'"}'
    r = await client.post(_path(hook), content=big, headers=signed(secret, big))
    assert_envelope(r, 413, "PAYLOAD_TOO_LARGE")


async def test_inputs_rejected_by_the_input_schema_are_422(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    spec = {
        "nodes": [
            {
                "id": "in",
                "type": "input",
                "config": {"schema": {"type": "object", "required": ["topic"]}},
            },
            {"id": "out", "type": "output", "config": {"value": "{{ inputs.topic }}"}},
        ],
        "edges": [{"source": "in", "target": "out"}],
    }
    wf = await create_workflow(client, account, spec)
    hook = (await client.post(f"/workflows/{wf['id']}/hooks", headers=account.headers())).json()
    body = b'{"subject": "x"}'
    r = await client.post(_path(hook), content=body, headers=signed(hook["secret"], body))
    assert_envelope(r, 422, "VALIDATION_ERROR")
    # nothing was recorded: the corrected request goes through
    body = b'{"topic": "tides"}'
    r = await client.post(_path(hook), content=body, headers=signed(hook["secret"], body))
    assert r.status_code == 202, r.text
    assert (await wait_run(client, account, r.json()["run_id"]))["output"] == "tides"


async def test_hooks_are_private_to_their_workspace(
    client: httpx.AsyncClient, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    other: Account = await make_account()
    wf, hook = await _hook(client, owner)
    base = f"/workflows/{wf}/hooks"
    r = await client.get(base, headers=owner.headers())
    assert r.status_code == 200
    [listed] = r.json()["items"]
    assert listed["id"] == hook["id"] and listed["url"] is None and listed["secret"] is None
    for response in [
        await client.get(base, headers=other.headers()),
        await client.post(base, headers=other.headers()),
        await client.delete(f"{base}/{hook['id']}", headers=other.headers()),
    ]:
        assert_envelope(response, 404, "RESOURCE_NOT_FOUND")
    assert_envelope(await client.post(base, headers={}), 401, "AUTHENTICATION_FAILED")
    assert (await client.get(base, headers=owner.headers())).json()["items"] != []

    assert (await client.delete(f"{base}/{hook['id']}", headers=owner.headers())).status_code == 204
    assert_envelope(
        await client.delete(f"{base}/{hook['id']}", headers=owner.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    body = b"{}"
    r = await client.post(_path(hook), content=body, headers=signed(hook["secret"], body))
    assert_envelope(r, 404, "RESOURCE_NOT_FOUND")


async def test_old_receipts_are_pruned(
    client: httpx.AsyncClient, container: Container, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    _, hook = await _hook(client, account)
    body = b'{"n": 1}'
    r = await client.post(_path(hook), content=body, headers=signed(hook["secret"], body))
    assert r.status_code == 202
    async with container.db.transaction() as session:
        await session.execute(
            update(HookReceipt).values(created_at=utcnow() - timedelta(seconds=121))
        )
    body = b'{"n": 2}'
    r = await client.post(_path(hook), content=body, headers=signed(hook["secret"], body))
    assert r.status_code == 202
    async with container.db.read() as session:
        count = await session.scalar(select(func.count()).select_from(HookReceipt))
    assert count == 1
