"""Workflow listings (with the agents they call) and updating installs to new versions while
keeping the settings the workspace changed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from codexos_server.container import Container
from tests.conftest import Account, assert_envelope
from tests.marketplace.helpers import (
    admin_account,
    create_agent,
    create_listing,
    install,
    publish,
    published_agent_listing,
    scripted_agent,
)


async def _new_version(client: httpx.AsyncClient, creator: Account, listing_id: str) -> int:
    r = await client.post(
        f"/marketplace/listings/{listing_id}/versions", json={}, headers=creator.headers()
    )
    assert r.status_code == 201, r.text
    return int(r.json()["version"])


async def test_update_keeps_the_users_changes(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    source = await create_agent(
        client, creator, scripted_agent("v1", variables={"tone": "formal", "lang": "en"})
    )
    listing = await create_listing(client, creator, source["id"])
    await publish(client, creator, admin, listing["id"])
    result = (await install(client, user, listing["id"], name="My helper")).json()
    agent_url = f"/agents/{result['resource_id']}"
    # The user changes the instructions and one variable.
    r = await client.patch(
        agent_url,
        json={"instructions": "Mine.", "variables": {"tone": "casual", "lang": "en"}},
        headers=user.headers(),
    )
    assert r.status_code == 200, r.text
    # The creator changes the instructions, max steps, a variable and the reply.
    r = await client.patch(
        f"/agents/{source['id']}",
        json={
            "instructions": "Theirs.",
            "max_steps": 4,
            "variables": {"tone": "formal", "lang": "fr"},
            "model": {"provider": "scripted", "options": {"script": [{"content": "v2"}]}},
        },
        headers=creator.headers(),
    )
    assert r.status_code == 200, r.text
    assert await _new_version(client, creator, listing["id"]) == 2
    installs = (await client.get("/marketplace/installs", headers=user.headers())).json()
    assert installs["items"][0]["latest_version"] == 2 and installs["items"][0]["version"] == 1
    r = await client.post(
        f"/marketplace/installs/{result['id']}/update", json={}, headers=user.headers()
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert r.json()["kept"] == ["instructions", "variables.tone"]
    agent = (await client.get(agent_url, headers=user.headers())).json()
    assert agent["name"] == "My helper"
    assert agent["instructions"] == "Mine."
    assert agent["max_steps"] == 4
    assert agent["variables"] == {"tone": "casual", "lang": "fr"}
    assert agent["source_listing_version"] == 2
    run = await client.post(
        f"{agent_url}/execute", json={"input_data": "hi"}, headers=user.headers()
    )
    assert run.json()["output"] == "v2"
    # Back to version 1 explicitly; another workspace's install is not found.
    r = await client.post(
        f"/marketplace/installs/{result['id']}/update", json={"version": 1}, headers=user.headers()
    )
    assert r.status_code == 200 and r.json()["version"] == 1
    other = await make_account()
    r = await client.post(
        f"/marketplace/installs/{result['id']}/update", json={}, headers=other.headers()
    )
    assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    assert_envelope(
        await client.get(f"/marketplace/installs/{result['id']}", headers=other.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    # A deleted installed agent: the update is refused, installing again works.
    assert (await client.delete(agent_url, headers=user.headers())).status_code == 204
    r = await client.post(
        f"/marketplace/installs/{result['id']}/update", json={}, headers=user.headers()
    )
    assert_envelope(r, 409, "CONFLICT")
    again = await install(client, user, listing["id"])
    assert again.status_code == 201 and again.json()["version"] == 2


async def test_per_run_price_changes_apply_on_update(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    listing = await published_agent_listing(
        client, creator, admin, pricing={"model": "per_run", "price": 3}
    )
    result = (await install(client, user, listing["id"])).json()
    r = await client.patch(
        f"/marketplace/listings/{listing['id']}",
        json={"pricing": {"model": "per_run", "price": 5}},
        headers=creator.headers(),
    )
    assert r.status_code == 200
    got = (await client.get(f"/marketplace/installs/{result['id']}", headers=user.headers())).json()
    assert got["price_per_run"] == 3
    r = await client.post(
        f"/marketplace/installs/{result['id']}/update", json={}, headers=user.headers()
    )
    assert r.json()["price_per_run"] == 5


def _workflow(agent_id: str) -> dict[str, Any]:
    return {
        "name": "Pipeline",
        "description": "Asks an agent",
        "spec": {
            "nodes": [
                {"id": "in", "type": "input"},
                {
                    "id": "ask",
                    "type": "agent",
                    "config": {"agent_id": agent_id, "input": "{{ inputs.topic }}"},
                },
                {
                    "id": "call",
                    "type": "http_request",
                    "config": {
                        "url": "https://example.com",
                        "headers": {"Authorization": "Bearer secret-123"},
                    },
                },
                {"id": "out", "type": "output", "config": {"value": "{{ nodes.ask.output }}"}},
            ],
            "edges": [
                {"source": "in", "target": "ask"},
                {"source": "ask", "target": "out"},
                {"source": "in", "target": "call"},
            ],
        },
    }


async def _run_workflow(
    client: httpx.AsyncClient, who: Account, workflow_id: str
) -> dict[str, Any]:
    r = await client.post(
        f"/workflows/{workflow_id}/runs", json={"inputs": {"topic": "x"}}, headers=who.headers()
    )
    assert r.status_code in (200, 201, 202), r.text
    run_id = r.json()["id"]
    for _ in range(200):
        run = (await client.get(f"/workflow-runs/{run_id}", headers=who.headers())).json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return dict(run)
        await asyncio.sleep(0.05)
    raise AssertionError(f"workflow run {run_id} did not finish")


async def test_workflow_listing_brings_its_agents(
    client: httpx.AsyncClient, make_account: Callable[..., Any], container: Container
) -> None:
    creator, user = await make_account(), await make_account()
    admin = await admin_account(make_account, container)
    helper = await create_agent(client, creator, scripted_agent("from the agent"))
    wf = await client.post("/workflows", json=_workflow(helper["id"]), headers=creator.headers())
    assert wf.status_code == 201, wf.text
    listing = await create_listing(
        client, creator, wf.json()["id"], resource_type="workflow", title="Pipeline"
    )
    await publish(client, creator, admin, listing["id"])
    version = (
        await client.get(
            f"/marketplace/listings/{listing['id']}/versions/1", headers=creator.headers()
        )
    ).json()
    assert "secret-123" not in str(version)
    assert version["requirements"]["agents"] == 1
    r = await install(client, user, listing["id"])
    assert r.status_code == 201, r.text
    result = r.json()
    new_agent = result["created_resources"]["agents"]["a1"]
    assert new_agent != helper["id"]
    workflow = (
        await client.get(f"/workflows/{result['resource_id']}", headers=user.headers())
    ).json()
    ask = next(n for n in workflow["spec"]["nodes"] if n["id"] == "ask")
    assert ask["config"]["agent_id"] == new_agent
    assert workflow["source_listing_id"] == listing["id"]
    # Drop the outbound call node from the user's copy so the run stays offline.
    spec = workflow["spec"]
    spec["nodes"] = [n for n in spec["nodes"] if n["id"] != "call"]
    spec["edges"] = [e for e in spec["edges"] if e["target"] != "call"]
    r = await client.patch(
        f"/workflows/{workflow['id']}", json={"spec": spec}, headers=user.headers()
    )
    assert r.status_code == 200, r.text
    run = await _run_workflow(client, user, workflow["id"])
    assert run["status"] == "succeeded", run
    # The creator ships version 2 (a new description); the user's spec change is kept.
    r = await client.patch(
        f"/workflows/{wf.json()['id']}",
        json={"description": "Asks an agent, better"},
        headers=creator.headers(),
    )
    assert r.status_code == 200
    await _new_version(client, creator, listing["id"])
    r = await client.post(
        f"/marketplace/installs/{result['id']}/update", json={}, headers=user.headers()
    )
    assert r.status_code == 200 and r.json()["kept"] == ["spec"], r.text
    updated = (await client.get(f"/workflows/{workflow['id']}", headers=user.headers())).json()
    assert updated["description"] == "Asks an agent, better"
    assert updated["spec"] == spec and updated["source_listing_version"] == 2
