"""The workflow definitions and runs API on SQLite and PostgreSQL: CRUD, versions,
export/import, validation errors, idempotency, ownership, SSE replay and the workspace
channel. Node behaviour is in test_engine.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import Account, assert_envelope
from tests.workflows.helpers import chain, create_workflow, edge, node, run_to_end, start, wait_run

# -- the runs API -----------------------------------------------------------------------------------


async def test_idempotency_and_ownership(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    stranger: Account = await make_account()
    wf = await create_workflow(
        client, account, {"nodes": [node("t", "template", template="x")], "edges": []}
    )
    first = await start(client, account, wf["id"], {"a": 1}, key="k1")
    again = await client.post(
        f"/workflows/{wf['id']}/runs",
        json={"inputs": {"a": 1}},
        headers=account.headers() | {"Idempotency-Key": "k1"},
    )
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    other = await client.post(
        f"/workflows/{wf['id']}/runs",
        json={"inputs": {"a": 2}},
        headers=account.headers() | {"Idempotency-Key": "k1"},
    )
    assert_envelope(other, 409, "CONFLICT")
    await wait_run(client, account, first["id"])
    for method, url in [
        ("GET", f"/workflow-runs/{first['id']}"),
        ("POST", f"/workflow-runs/{first['id']}/cancel"),
        ("POST", f"/workflow-runs/{first['id']}/rerun"),
        ("GET", f"/workflow-runs/{first['id']}/events"),
        ("POST", f"/workflows/{wf['id']}/runs"),
        ("GET", f"/workflows/{wf['id']}"),
    ]:
        assert_envelope(
            await client.request(method, url, headers=stranger.headers()), 404, "RESOURCE_NOT_FOUND"
        )
    assert (await client.get("/workflow-runs", headers=stranger.headers())).json()["items"] == []
    listed = (
        await client.get(f"/workflows/{wf['id']}/runs?status=succeeded", headers=account.headers())
    ).json()
    assert [r["id"] for r in listed["items"]] == [first["id"]]


async def test_events_replay(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    spec = {
        "nodes": [node("a", "template", template="1"), node("b", "template", template="2")],
        "edges": chain("a", "b"),
    }
    run = await run_to_end(client, account, spec)
    r = await client.get(f"/workflow-runs/{run['id']}/events", headers=account.headers())
    assert r.status_code == 200
    kinds = [line.split(": ", 1)[1] for line in r.text.splitlines() if line.startswith("event: ")]
    assert kinds == [
        "run.started",
        "node.started",
        "node.succeeded",
        "node.started",
        "node.succeeded",
        "run.succeeded",
    ]
    ids = [int(line.split(": ")[1]) for line in r.text.splitlines() if line.startswith("id: ")]
    assert ids == sorted(ids)
    r = await client.get(
        f"/workflow-runs/{run['id']}/events",
        headers=account.headers() | {"Last-Event-ID": str(ids[-2])},
    )
    assert [line for line in r.text.splitlines() if line.startswith("event: ")] == [
        "event: run.succeeded"
    ]


async def test_definitions_crud_versions_export_import(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    spec = {"nodes": [node("t", "template", template="v1")], "edges": []}
    wf = await create_workflow(client, account, spec, name="mine")
    assert wf["version"] == 1
    spec2 = {"nodes": [node("t", "template", template="v2")], "edges": []}
    r = await client.patch(f"/workflows/{wf['id']}", json={"spec": spec2}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2
    renamed = await client.patch(f"/workflows/{wf['id']}", json={"name": "renamed"}, headers=h)
    assert renamed.json()["version"] == 2  # no new spec, no new version
    versions = (await client.get(f"/workflows/{wf['id']}/versions", headers=h)).json()
    assert [v["version"] for v in versions] == [2, 1]
    run = await start(client, account, wf["id"])
    done = await wait_run(client, account, run["id"])
    assert done["workflow_version"] == 2 and done["output"] == {"t": "v2"}
    for fmt in ("json", "yaml"):
        exported = await client.get(f"/workflows/{wf['id']}/export?format={fmt}", headers=h)
        assert exported.status_code == 200
        r = await client.post("/workflows/import", content=exported.content, headers=h)
        assert r.status_code == 201, r.text
        assert r.json()["spec"]["nodes"][0]["config"]["template"] == "v2"
        assert r.json()["name"] == "renamed"
    for bad in (b"{not json: [", b'{"format": "other"}', b"\xff\xfe", b"[1, 2]"):
        assert_envelope(
            await client.post("/workflows/import", content=bad, headers=h), 422, "VALIDATION_ERROR"
        )
    r = await client.post("/workflows/import", content=b" " * (3 * 1024 * 1024), headers=h)
    assert_envelope(r, 413, "PAYLOAD_TOO_LARGE")
    assert (await client.delete(f"/workflows/{wf['id']}", headers=h)).status_code == 204
    assert_envelope(
        await client.get(f"/workflows/{wf['id']}", headers=h), 404, "RESOURCE_NOT_FOUND"
    )


async def test_invalid_spec_is_refused_with_every_problem(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    spec = {
        "nodes": [
            node("a", "teleport"),
            node("b", "condition"),
            node("c", "template", template="{{ oops"),
        ],
        "edges": [edge("a", "ghost")],
    }
    for r in (
        await client.post(
            "/workflows", json={"name": "bad", "spec": spec}, headers=account.headers()
        ),
        await client.post("/workflows/validate", json={"spec": spec}, headers=account.headers()),
    ):
        body = assert_envelope(r, 422, "VALIDATION_ERROR")
        problems = {(d["node_id"], d["code"]) for d in body["details"]}
        assert ("a", "unknown_type") in problems
        assert ("b", "missing_config") in problems
        assert ("c", "bad_expression") in problems
        assert any(code == "dangling_edge" for _, code in problems)
    ok = await client.post(
        "/workflows/validate",
        json={"spec": {"nodes": [node("t", "template", template="x")]}},
        headers=account.headers(),
    )
    assert ok.status_code == 200 and ok.json() == {"valid": True, "problems": []}
    for bad_body in ({"spec": "nope"}, {}, {"spec": {"nodes": "x"}}):
        r = await client.post("/workflows/validate", json=bad_body, headers=account.headers())
        assert_envelope(r, 422, "VALIDATION_ERROR")


async def test_run_status_on_the_workspace_channel(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Any
) -> None:
    """Run-level events of top-level runs also go to `workspace:{id}` (node events do not)."""
    account: Account = await make_account()
    workspace_id = await account.personal_workspace()
    async with await container.events.subscribe(f"workspace:{workspace_id}") as subscription:
        spec = {"nodes": [node("t", "template", template="x")], "edges": []}
        run = await run_to_end(client, account, spec)
        seen = []
        while not seen or seen[-1].type != "run.succeeded":
            seen.append(await asyncio.wait_for(subscription.get(), 5))
    mine = [e for e in seen if e.data.get("run_id") == run["id"]]
    assert [e.type for e in mine] == ["run.started", "run.succeeded"]
    assert mine[0].data["workflow_id"] == run["workflow_id"]
