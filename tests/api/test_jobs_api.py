"""GET /jobs/{id} and POST /jobs/{id}/cancel: the owner's workspace sees them, others get 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

import tests.jobs_fixtures  # noqa: F401 - registers the test job kinds
from codexos_server.container import Container
from codexos_server.jobs.models import JobStatus
from tests.conftest import Account, assert_envelope
from tests.jobs_helpers import wait_for_status


async def _enqueue(
    container: Container, account: Account, kind: str, workspace_id: str | None = None, **kw: Any
) -> str:
    actor = await container.authenticator.authenticate(account.token, workspace_id)
    return (await container.jobs.enqueue(actor, kind, {"from": "test"}, **kw)).id


async def test_get_and_list_jobs(
    client: httpx.AsyncClient, container: Container, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    job_id = await _enqueue(container, account, "test.echo")
    await wait_for_status(container.db, job_id)
    r = await client.get(f"/jobs/{job_id}", headers=account.headers())
    assert r.status_code == 200
    job = r.json()
    assert (
        job["status"] == "succeeded"
        and job["result"]["echo"] == {"from": "test"}
        and job["kind"] == "test.echo"
    )
    r = await client.get(
        "/jobs", params={"status": "succeeded", "kind": "test.echo"}, headers=account.headers()
    )
    assert [j["id"] for j in r.json()["items"]] == [job_id]
    r = await client.get("/jobs", params={"status": "queued"}, headers=account.headers())
    assert r.json()["items"] == []
    assert_envelope(
        await client.get("/jobs", params={"status": "bogus"}, headers=account.headers()),
        422,
        "VALIDATION_ERROR",
    )


async def test_other_users_job_is_404(
    client: httpx.AsyncClient, container: Container, make_account: Callable[..., Any]
) -> None:
    owner: Account = await make_account()
    other: Account = await make_account()
    job_id = await _enqueue(container, owner, "test.echo", delay_seconds=3600)
    assert_envelope(
        await client.get(f"/jobs/{job_id}", headers=other.headers()), 404, "RESOURCE_NOT_FOUND"
    )
    assert_envelope(
        await client.post(f"/jobs/{job_id}/cancel", headers=other.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert (await client.get(f"/jobs/{job_id}", headers=owner.headers())).json()[
        "status"
    ] == "queued"


async def test_cancel_over_http(
    client: httpx.AsyncClient, container: Container, make_account: Callable[..., Any]
) -> None:
    account: Account = await make_account()
    queued = await _enqueue(container, account, "test.echo", delay_seconds=3600)
    r = await client.post(f"/jobs/{queued}/cancel", headers=account.headers())
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    running = await _enqueue(container, account, "test.steps")
    await wait_for_status(container.db, running, JobStatus.RUNNING)
    r = await client.post(f"/jobs/{running}/cancel", headers=account.headers())
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    assert (await wait_for_status(container.db, running)).status == "cancelled"


async def test_roles_and_scopes(
    client: httpx.AsyncClient, container: Container, make_account: Callable[..., Any]
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
    job_id = await _enqueue(container, owner, "test.echo", workspace_id=ws, delay_seconds=3600)
    assert (await client.get(f"/jobs/{job_id}", headers=viewer.headers(ws))).status_code == 200
    assert_envelope(
        await client.post(f"/jobs/{job_id}/cancel", headers=viewer.headers(ws)),
        403,
        "AUTHORIZATION_FAILED",
    )
    # Not in the personal workspace:
    assert_envelope(
        await client.get(f"/jobs/{job_id}", headers=owner.headers()), 404, "RESOURCE_NOT_FOUND"
    )
    reader_key = await owner.api_key(["jobs:read"], workspace_id=ws)
    assert (
        await client.get(f"/jobs/{job_id}", headers={"Authorization": f"Bearer {reader_key}"})
    ).status_code == 200
    r = await client.post(
        f"/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {reader_key}"}
    )
    assert_envelope(r, 403, "AUTHORIZATION_FAILED")
