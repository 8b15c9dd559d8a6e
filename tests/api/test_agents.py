"""Agents over HTTP: the seed's Quick Start step 3, the SDK example's create/execute flow,
CRUD, versions, duplicate, validation and ownership."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import Account, assert_envelope


async def test_quick_start_step_3(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    r = await client.post(
        "/agents",
        headers={**account.headers(), "Content-Type": "application/json"},
        json={"name": "My First Agent", "description": "A simple test agent", "type": "basic"},
    )
    assert r.status_code == 201
    agent = r.json()
    assert agent["name"] == "My First Agent" and agent["type"] == "basic" and agent["version"] == 1


async def test_sdk_example_flow_create_then_execute(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    """`client.agents.create(name=..., description=...)` then `execute(agent.id, input_data=...)`."""
    account: Account = await make_account()
    key = await account.api_key(["agents:*"])
    auth = {"Authorization": f"Bearer {key}"}
    agent = (
        await client.post(
            "/agents",
            json={"name": "Documentation Bot", "description": "Automated documentation generator"},
            headers=auth,
        )
    ).json()
    r = await client.post(
        f"/agents/{agent['id']}/execute", json={"input_data": "Generate API docs"}, headers=auth
    )
    assert r.status_code == 200
    run = r.json()
    assert run["status"] == "succeeded"
    assert run["output"] == "echo: Generate API docs"
    assert run["agent_version"] == 1 and run["model"] == "scripted/scripted"
    assert run["usage"]["total_tokens"] > 0 and run["finished_at"]


async def test_crud_versions_and_duplicate(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    agent = (
        await client.post("/agents", json={"name": "A", "instructions": "Be brief."}, headers=h)
    ).json()
    r = await client.patch(
        f"/agents/{agent['id']}", json={"instructions": "Be very brief.", "max_steps": 3}, headers=h
    )
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["name"] == "A"
    versions = (await client.get(f"/agents/{agent['id']}/versions", headers=h)).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["snapshot"]["instructions"] == "Be brief."
    v1 = (await client.get(f"/agents/{agent['id']}/versions/1", headers=h)).json()
    assert v1["snapshot"]["max_steps"] == 10
    assert_envelope(
        await client.get(f"/agents/{agent['id']}/versions/9", headers=h), 404, "RESOURCE_NOT_FOUND"
    )

    run = (
        await client.post(f"/agents/{agent['id']}/execute", json={"input_data": "hi"}, headers=h)
    ).json()
    assert run["agent_version"] == 2

    copy = (await client.post(f"/agents/{agent['id']}/duplicate", headers=h)).json()
    assert (
        copy["name"] == "Copy of A"
        and copy["version"] == 1
        and copy["instructions"] == "Be very brief."
    )

    assert (await client.delete(f"/agents/{agent['id']}", headers=h)).status_code == 204
    assert_envelope(
        await client.get(f"/agents/{agent['id']}", headers=h), 404, "RESOURCE_NOT_FOUND"
    )
    assert_envelope(await client.get(f"/runs/{run['id']}", headers=h), 404, "RESOURCE_NOT_FOUND")


async def test_list_filters_and_pagination(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    for i, kind in enumerate(["basic", "tool", "basic", "rag", "tool"]):
        await client.post(
            "/agents",
            json={"name": f"Agent {i}", "type": kind, "description": "weather" if i == 2 else None},
            headers=h,
        )
    tools = (await client.get("/agents", params={"type": "tool"}, headers=h)).json()["items"]
    assert sorted(a["name"] for a in tools) == ["Agent 1", "Agent 4"]
    found = (await client.get("/agents", params={"search": "WEATHER"}, headers=h)).json()["items"]
    assert [a["name"] for a in found] == ["Agent 2"]
    page = (await client.get("/agents", params={"limit": 2}, headers=h)).json()
    nxt = (
        await client.get("/agents", params={"limit": 2, "cursor": page["next_cursor"]}, headers=h)
    ).json()
    assert [a["name"] for a in page["items"] + nxt["items"]] == [
        "Agent 4",
        "Agent 3",
        "Agent 2",
        "Agent 1",
    ]


async def test_validation(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    h = account.headers()
    for body in (
        {"name": "x", "type": "wizard"},
        {"name": ""},
        {"name": "x", "max_steps": 0},
        {"name": "x", "surprise": 1},
        {"name": "x", "model": {"temperature": 5}},
        {"name": "x", "tools": [{"name": "no such tool"}]},
        {"name": "x", "type": "tool", "tools": [{"name": "nonexistent_tool"}]},
    ):
        assert_envelope(await client.post("/agents", json=body, headers=h), 422, "VALIDATION_ERROR")
    agent = (await client.post("/agents", json={"name": "x"}, headers=h)).json()
    assert_envelope(
        await client.patch(f"/agents/{agent['id']}", json={"name": None}, headers=h),
        422,
        "VALIDATION_ERROR",
    )
    r = await client.post(f"/agents/{agent['id']}/execute", json={"input_data": ""}, headers=h)
    assert_envelope(r, 422, "VALIDATION_ERROR")
    r = await client.post(f"/agents/{agent['id']}/execute", json={}, headers=h)
    assert_envelope(r, 422, "VALIDATION_ERROR")


async def test_another_workspaces_agent_is_404(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    owner: Account = await make_account()
    other: Account = await make_account()
    agent = (await client.post("/agents", json={"name": "mine"}, headers=owner.headers())).json()
    run = (
        await client.post(
            f"/agents/{agent['id']}/execute", json={"input_data": "x"}, headers=owner.headers()
        )
    ).json()
    conversation = (
        await client.post(f"/agents/{agent['id']}/conversations", json={}, headers=owner.headers())
    ).json()
    h = other.headers()
    for method, path, body in (
        ("GET", f"/agents/{agent['id']}", None),
        ("PATCH", f"/agents/{agent['id']}", {"name": "stolen"}),
        ("DELETE", f"/agents/{agent['id']}", None),
        ("POST", f"/agents/{agent['id']}/execute", {"input_data": "x"}),
        ("POST", f"/agents/{agent['id']}/duplicate", None),
        ("GET", f"/agents/{agent['id']}/versions", None),
        ("GET", f"/runs/{run['id']}", None),
        ("POST", f"/runs/{run['id']}/cancel", None),
        ("GET", f"/runs/{run['id']}/events", None),
        ("GET", f"/conversations/{conversation['id']}", None),
        ("GET", f"/conversations/{conversation['id']}/messages", None),
        ("POST", f"/conversations/{conversation['id']}/messages", {"content": "hi"}),
        ("DELETE", f"/conversations/{conversation['id']}", None),
    ):
        r = await client.request(method, path, json=body, headers=h)
        assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    # Executing someone else's conversation through your own agent is refused too.
    mine = (await client.post("/agents", json={"name": "other's"}, headers=h)).json()
    r = await client.post(
        f"/agents/{mine['id']}/execute",
        json={"input_data": "x", "conversation_id": conversation["id"]},
        headers=h,
    )
    assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    assert (await client.get("/runs", headers=h)).json()["items"] == []


async def test_roles_and_scopes(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    owner: Account = await make_account()
    viewer: Account = await make_account()
    ws = (await client.post("/workspaces", json={"name": "team"}, headers=owner.headers())).json()[
        "id"
    ]
    token = (
        await client.post(
            f"/workspaces/{ws}/invitations",
            json={"email": viewer.email, "role": "viewer"},
            headers=owner.headers(),
        )
    ).json()["token"]
    await client.post("/invitations/accept", json={"token": token}, headers=viewer.headers())
    agent = (
        await client.post("/agents", json={"name": "team agent"}, headers=owner.headers(ws))
    ).json()
    assert (
        await client.get(f"/agents/{agent['id']}", headers=viewer.headers(ws))
    ).status_code == 200
    assert_envelope(
        await client.post(
            f"/agents/{agent['id']}/execute", json={"input_data": "x"}, headers=viewer.headers(ws)
        ),
        403,
        "AUTHORIZATION_FAILED",
    )
    assert_envelope(
        await client.post("/agents", json={"name": "v"}, headers=viewer.headers(ws)),
        403,
        "AUTHORIZATION_FAILED",
    )
    read_key = await owner.api_key(["agents:read"], workspace_id=ws)
    r = await client.post(
        f"/agents/{agent['id']}/execute",
        json={"input_data": "x"},
        headers={"Authorization": f"Bearer {read_key}"},
    )
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")


async def test_fuzz_regressions(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    """Inputs schemathesis found answering 500: a version past SQLite's INTEGER, explicit
    nulls for fields that may only be omitted."""
    account: Account = await make_account()
    h = account.headers()
    agent = (await client.post("/agents", json={"name": "a"}, headers=h)).json()
    for version in ("-5656490242311372538403231983730688", "0", str(2**40)):
        r = await client.get(f"/agents/{agent['id']}/versions/{version}", headers=h)
        assert_envelope(r, 422, "VALIDATION_ERROR")
    for field in ("variables", "knowledge_base_ids"):
        r = await client.patch(f"/agents/{agent['id']}", json={field: None}, headers=h)
        assert_envelope(r, 422, "VALIDATION_ERROR")
    assert (await client.get(f"/agents/{agent['id']}", headers=h)).json()["version"] == 1
