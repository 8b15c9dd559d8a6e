"""Driving workflows through the API in tests."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx

from tests.conftest import Account

FINISHED = {"succeeded", "failed", "cancelled"}


def node(node_id: str, type: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type, "config": config}


def edge(source: str, target: str, branch: str | None = None) -> dict[str, Any]:
    return {"source": source, "target": target, **({"branch": branch} if branch else {})}


def chain(*ids: str) -> list[dict[str, Any]]:
    return [edge(a, b) for a, b in itertools.pairwise(ids)]


def scripted(*replies: str) -> dict[str, Any]:
    """Model settings for the scripted test model answering `replies` in turn."""
    return {"provider": "scripted", "options": {"script": [{"content": r} for r in replies]}}


async def create_workflow(
    http: httpx.AsyncClient, account: Account, spec: dict[str, Any], name: str = "wf"
) -> dict[str, Any]:
    r = await http.post("/workflows", json={"name": name, "spec": spec}, headers=account.headers())
    assert r.status_code == 201, r.text
    return dict(r.json())


async def start(
    http: httpx.AsyncClient,
    account: Account,
    workflow_id: str,
    inputs: dict[str, Any] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    headers = account.headers() | ({"Idempotency-Key": key} if key else {})
    r = await http.post(
        f"/workflows/{workflow_id}/runs", json={"inputs": inputs or {}}, headers=headers
    )
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def wait_run(
    http: httpx.AsyncClient,
    account: Account,
    run_id: str,
    statuses: set[str] | frozenset[str] = frozenset(FINISHED),
    timeout: float = 30,
) -> dict[str, Any]:
    """Poll a run until its status is one of `statuses`; a run stuck elsewhere fails loudly."""
    deadline = time.monotonic() + timeout
    while True:
        run = (await http.get(f"/workflow-runs/{run_id}", headers=account.headers())).json()
        if run["status"] in statuses:
            return dict(run)
        assert time.monotonic() < deadline, f"run stuck in {run['status']}: {run}"
        await asyncio.sleep(0.05)


async def run_to_end(
    http: httpx.AsyncClient,
    account: Account,
    spec: dict[str, Any],
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    wf = await create_workflow(http, account, spec)
    run = await start(http, account, wf["id"], inputs)
    return await wait_run(http, account, run["id"])


def by_node(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["node_id"]: n for n in run["nodes"]}
