"""Workflow crash recovery with real processes: two `codexos worker`s on Redis run a 10-node
workflow with two parallel branches (several runs at once); one worker is killed with
`kill -9` while it executes nodes. Every run must complete, and no node that had finished
ran again: only the nodes in flight at the kill were executed twice, and their side effect
(keyed by run and node, like the http_request node's Idempotency-Key) exists once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text

import tests.workflow_fixtures  # noqa: F401 - registers record_effect in this process
from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.config import Settings
from codexos_server.container import build_container
from codexos_server.jobs.models import Job
from codexos_server.workflows.models import NodeRun, WorkflowRun
from codexos_server.workflows.schemas import WorkflowCreate
from codexos_server.workspaces.models import Workspace
from codexos_server.workspaces.permissions import WorkspaceRole
from tests.conftest import truncate_all
from tests.integration.conftest import Workers, worker_env
from tests.workflow_fixtures import EFFECTS_DDL

RUNS = 6
EFFECT_NODES = ("a", "b1", "c1", "b2", "c2", "d")


def effect(node_id: str) -> dict[str, Any]:
    arguments = {"node": node_id, "sleep": 0.4}
    return {
        "id": node_id,
        "type": "tool",
        "config": {"tool": "record_effect", "arguments": arguments},
    }


SPEC = {
    "nodes": [
        {"id": "in", "type": "input"},
        effect("a"),
        {"id": "fan", "type": "parallel"},
        effect("b1"),
        effect("c1"),
        effect("b2"),
        effect("c2"),
        {"id": "join", "type": "join"},
        effect("d"),
        {"id": "out", "type": "output", "config": {"value": "{{ nodes.d.output.node }}"}},
    ],
    "edges": [
        {"source": s, "target": t}
        for s, t in [
            ("in", "a"),
            ("a", "fan"),
            ("fan", "b1"),
            ("b1", "c1"),
            ("fan", "b2"),
            ("b2", "c2"),
            ("c1", "join"),
            ("c2", "join"),
            ("join", "d"),
            ("d", "out"),
        ]
    ],
}


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.mark.redis
@pytest.mark.slow
async def test_kill_9_a_worker_mid_workflow(
    settings_factory: Callable[..., Settings],
    database_url: str,
    redis_url: str,
    workers_factory: list[Workers],
) -> None:
    queue = f"codexos-test-wfcrash-{uuid.uuid4().hex[:8]}"
    settings = settings_factory(broker_url=redis_url, broker_queue=queue, redis_url=redis_url)
    container = build_container(settings)
    await truncate_all(container.db)
    async with container.db.transaction() as session:
        for ddl in (
            "DROP TABLE IF EXISTS workflow_effects",
            "DROP TABLE IF EXISTS workflow_node_calls",
            *EFFECTS_DDL,
        ):
            await session.execute(text(ddl))
    await container.start()

    env = worker_env(settings.data_dir, database_url, redis_url, redis_url, queue)
    env["CODEXOS_JOB_MODULES"] = '["tests.workflow_fixtures"]'
    workers = Workers(settings.data_dir, env)
    workers_factory.append(workers)
    victim, survivor = workers.start(concurrency=4), workers.start(concurrency=4)
    workers.wait_ready(victim)
    workers.wait_ready(survivor)

    user = await container.users.create("wfcrash@example.com", "a long passphrase")
    async with container.db.read() as session:
        workspace_id = str(
            await session.scalar(select(Workspace.id).where(Workspace.owner_id == user.id))
        )
    actor = Principal(
        user.id,
        user.email,
        "user",
        "free",
        None,
        workspace_id,
        WorkspaceRole.OWNER,
        AuthMethod.SESSION,
    )
    workflow = await container.workflows.create(actor, WorkflowCreate(name="crash", spec=SPEC))
    run_ids = [
        (await container.workflow_runs.start(actor, workflow.id, {"n": i}))[0].id
        for i in range(RUNS)
    ]

    # Kill the victim while it executes nodes, after some nodes have finished.
    deadline = time.monotonic() + 60
    while True:
        async with container.db.read() as session:
            held_jobs = select(Job.id).where(
                Job.kind == "workflow.node",
                Job.status == "running",
                Job.lease_owner.like(f"%:{victim.pid}:%"),
            )
            held = (
                await session.scalars(
                    select(NodeRun).where(
                        NodeRun.status == "running", NodeRun.job_id.in_(held_jobs)
                    )
                )
            ).all()
            finished = await session.scalar(
                select(func.count())
                .select_from(NodeRun)
                .where(NodeRun.status == "succeeded", NodeRun.node_type == "tool")
            )
        if held and finished and finished >= 4:
            break
        assert time.monotonic() < deadline, workers.logs()[-3000:]
        await asyncio.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    # What the dead worker held (nodes it was running, its leases not yet expired).
    async with container.db.read() as session:
        held = (
            await session.scalars(
                select(NodeRun).where(NodeRun.status == "running", NodeRun.job_id.in_(held_jobs))
            )
        ).all()
        done_at_kill = {
            (r.run_id, r.node_id)
            for r in (
                await session.scalars(select(NodeRun).where(NodeRun.status == "succeeded"))
            ).all()
        }
    in_flight = {(r.run_id, r.node_id) for r in held}

    deadline = time.monotonic() + 120
    while True:
        async with container.db.read() as session:
            statuses = (
                await session.scalars(select(WorkflowRun.status).where(WorkflowRun.id.in_(run_ids)))
            ).all()
        if all(s in ("succeeded", "failed", "cancelled") for s in statuses):
            break
        assert time.monotonic() < deadline, f"{statuses}\n{workers.logs()[-3000:]}"
        await asyncio.sleep(0.2)
    assert set(statuses) == {"succeeded"}, workers.logs()[-3000:]

    async with container.db.read() as session:
        calls = (
            await session.execute(
                text(
                    "SELECT run_id, node_id, count(*) FROM workflow_node_calls GROUP BY run_id, node_id"
                )
            )
        ).all()
        effects = (
            await session.execute(text("SELECT run_id, node_id FROM workflow_effects"))
        ).all()
        outputs = (
            await session.scalars(select(WorkflowRun.output).where(WorkflowRun.id.in_(run_ids)))
        ).all()
        reran_nodes = (
            await session.scalars(
                select(NodeRun).where(NodeRun.run_id.in_(run_ids), NodeRun.attempt > 1)
            )
        ).all()
    expected = {(run_id, node_id) for run_id in run_ids for node_id in EFFECT_NODES}
    assert sorted(map(tuple, effects)) == sorted(expected), "every node's side effect exactly once"
    twice = {(run_id, node_id) for run_id, node_id, count in calls if count > 1}
    assert twice <= in_flight, "only nodes in flight at the kill ran again"
    assert not twice & done_at_kill, "no finished node ran again"
    assert reran_nodes, "the nodes the killed worker held ran again on the survivor"
    assert {(r.run_id, r.node_id) for r in reran_nodes} <= in_flight
    assert outputs == ["d"] * RUNS
    assert "re-queued a job whose worker stopped responding" in workers.logs()
    await container.close()
