"""Crash recovery with real processes: two `codexos worker`s on Redis, 200 jobs whose handler
records an idempotent side effect, and a `kill -9` of one worker mid-run. Every job must end
`succeeded` exactly once in effect, with the reaper having re-queued the dead worker's jobs."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text

import tests.jobs_fixtures  # noqa: F401 - registers test.effect in this process
from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.config import Settings
from codexos_server.container import build_container
from codexos_server.jobs.models import Job
from codexos_server.workspaces.models import Workspace
from codexos_server.workspaces.permissions import WorkspaceRole
from tests.conftest import truncate_all
from tests.integration.conftest import Workers, worker_env
from tests.jobs_fixtures import EFFECTS_DDL

JOBS = 200


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.mark.redis
@pytest.mark.slow
async def test_kill_9_a_worker_mid_run(
    settings_factory: Callable[..., Settings],
    database_url: str,
    redis_url: str,
    workers_factory: list[Workers],
) -> None:
    queue = f"codexos-test-crash-{uuid.uuid4().hex[:8]}"
    settings = settings_factory(broker_url=redis_url, broker_queue=queue, redis_url=redis_url)
    container = build_container(settings)
    await truncate_all(container.db)
    async with container.db.transaction() as session:
        await session.execute(text("DROP TABLE IF EXISTS job_effects"))
        await session.execute(text(EFFECTS_DDL))
    await container.start()

    workers = Workers(
        settings.data_dir, worker_env(settings.data_dir, database_url, redis_url, redis_url, queue)
    )
    workers_factory.append(workers)
    victim, survivor = workers.start(concurrency=4), workers.start(concurrency=4)
    workers.wait_ready(victim)
    workers.wait_ready(survivor)

    user = await container.users.create("crash@example.com", "a long passphrase")
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
    ids = [
        (await container.jobs.enqueue(actor, "test.effect", {"sleep": 0.05})).id
        for _ in range(JOBS)
    ]

    # Kill the victim while it holds jobs.
    deadline = time.monotonic() + 30
    while True:
        async with container.db.read() as session:
            held = await session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.status == "running", Job.lease_owner.like(f"%:{victim.pid}:%"))
            )
            done = await session.scalar(
                select(func.count()).select_from(Job).where(Job.status == "succeeded")
            )
        if held and done and done > 20:
            break
        assert time.monotonic() < deadline, workers.logs()[-3000:]
        await asyncio.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)

    deadline = time.monotonic() + 90
    while True:
        async with container.db.read() as session:
            statuses = dict(
                (await session.execute(select(Job.status, func.count()).group_by(Job.status))).all()
            )
        if statuses.get("succeeded") == JOBS:
            break
        assert time.monotonic() < deadline, f"{statuses}\n{workers.logs()[-3000:]}"
        await asyncio.sleep(0.2)

    async with container.db.read() as session:
        effects = (await session.execute(text("SELECT job_id, worker FROM job_effects"))).all()
        attempts = dict((await session.execute(select(Job.id, Job.attempt))).all())
    assert sorted(job_id for job_id, _ in effects) == sorted(ids), "each job's effect exactly once"
    assert {worker for _, worker in effects} >= {str(survivor.pid)}
    rerun = [job_id for job_id, attempt in attempts.items() if attempt > 1]
    assert rerun, "the reaper re-queued the jobs the killed worker held"
    assert "re-queued a job whose worker stopped responding" in workers.logs()
    await container.close()
