"""The job runner end to end: results, retries with backoff, max attempts, timeouts,
cancellation, idempotency keys and restart recovery — on the inline adapter (SQLite and
PostgreSQL) and on taskiq with real `codexos worker` processes over Redis and RabbitMQ."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

import tests.jobs_fixtures  # noqa: F401 - registers the test job kinds in this process
from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.config import Settings
from codexos_server.container import Container, build_container
from codexos_server.errors import Conflict, ValidationFailed
from codexos_server.events.bus import Event
from codexos_server.jobs.models import Job, JobStatus
from codexos_server.workspaces.models import Workspace
from codexos_server.workspaces.permissions import WorkspaceRole
from tests.conftest import create_postgres_database, drop_postgres_database, truncate_all
from tests.integration.conftest import FAST_JOBS, Workers, worker_env
from tests.jobs_helpers import wait_for_status

SETUPS = [
    pytest.param(("inline", "sqlite"), id="inline-sqlite"),
    pytest.param(("inline", "postgres"), id="inline-postgres"),
    pytest.param(("redis", "postgres"), id="taskiq-redis", marks=pytest.mark.redis),
    pytest.param(("rabbitmq", "postgres"), id="taskiq-rabbitmq"),
]


@pytest.fixture(params=SETUPS)
def job_setup(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def backend(job_setup: tuple[str, str]) -> str:
    return job_setup[1]


@dataclass
class Pool:
    workers: Workers
    database_url: str
    queue: str


@pytest.fixture(scope="module")
def worker_pools(postgres_admin_url: str) -> Iterator[dict[str, Pool]]:
    """Worker processes per broker, kept for the module. Each broker's workers get their own
    database, so they never claim the jobs of the inline tests that share the server."""
    pools: dict[str, Pool] = {}
    yield pools
    for name, pool in pools.items():
        pool.workers.stop_all()
        drop_postgres_database(postgres_admin_url, f"codexos_jobs_{name}")


@dataclass
class Env:
    container: Container
    actor: Principal
    queue: str
    workers: Workers | None

    async def enqueue(self, kind: str, payload: dict[str, Any] | None = None, **kw: Any) -> str:
        job = await self.container.jobs.enqueue(self.actor, kind, payload or {}, **kw)
        return job.id

    async def wait(self, job_id: str, *statuses: JobStatus, timeout: float = 20) -> Job:
        try:
            return await wait_for_status(self.container.db, job_id, *statuses, timeout=timeout)
        except AssertionError:
            if self.workers:
                print(self.workers.logs()[-5000:])
            raise


def _fast(settings_factory: Callable[..., Settings], **extra: Any) -> Settings:
    timers = {
        k.removeprefix("CODEXOS_").lower(): v
        for k, v in FAST_JOBS.items()
        if k != "CODEXOS_JOB_MODULES"
    }
    return settings_factory(**timers, **extra)


@pytest.fixture
async def env(
    job_setup: tuple[str, str],
    settings_factory: Callable[..., Settings],
    database_url: str,
    worker_pools: dict[str, Pool],
    postgres_admin_url: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Env]:
    queue, backend = job_setup
    broker_url = redis_url = None
    if queue == "redis":
        redis_url = broker_url = request.getfixturevalue("redis_url")
    elif queue == "rabbitmq":
        broker_url = request.getfixturevalue("amqp_url")
        redis_url = request.getfixturevalue("redis_url")  # events cross processes through Redis
    workers = None
    if broker_url:
        pool = worker_pools.get(queue)
        if pool is None:
            url = await asyncio.to_thread(
                create_postgres_database, postgres_admin_url, f"codexos_jobs_{queue}"
            )
            data_dir = tmp_path_factory.mktemp(f"workers-{queue}")
            name = f"codexos-test-{queue}-{uuid.uuid4().hex[:8]}"
            env = worker_env(data_dir, url, broker_url, redis_url, name)
            pool = Pool(Workers(data_dir, env), url, name)
            procs = [pool.workers.start(concurrency=4) for _ in range(2)]
            for proc in procs:
                pool.workers.wait_ready(proc)
            worker_pools[queue] = pool
        workers, database_url, broker_queue = pool.workers, pool.database_url, pool.queue
    else:
        broker_queue = "unused"
    settings = _fast(
        settings_factory,
        broker_url=broker_url,
        broker_queue=broker_queue,
        redis_url=redis_url,
        database_url=database_url,
    )
    container = build_container(settings)
    if backend == "postgres":
        await truncate_all(container.db)
    await container.start()
    user = await container.users.create(f"jobs-{queue}@example.com", "a long passphrase")
    async with container.db.read() as session:
        workspace_id = await session.scalar(
            select(Workspace.id).where(Workspace.owner_id == user.id)
        )
    assert workspace_id
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
    yield Env(container, actor, queue, workers)
    await container.close()


async def _collect(env: Env, job_id: str, until: str, timeout: float = 20) -> list[Event]:
    events: list[Event] = []
    async with await env.container.events.subscribe(f"job:{job_id}", after_seq=0) as sub:
        async with asyncio.timeout(timeout):
            async for event in sub:
                events.append(event)
                if event.type == until:
                    return events
    return events


async def test_success_records_result_and_events(env: Env) -> None:
    job_id = await env.enqueue("test.echo", {"x": 1})
    job = await env.wait(job_id)
    assert job.status == "succeeded"
    assert job.result == {"echo": {"x": 1}, "attempt": 1}
    assert job.attempt == 1 and job.finished_at is not None and job.lease_owner is None
    events = await _collect(env, job_id, "job.succeeded")
    assert [e.type for e in events] == ["job.queued", "job.started", "job.succeeded"]
    assert [e.seq for e in events] == [1, 2, 3]


async def test_retries_with_backoff_until_success(env: Env) -> None:
    job_id = await env.enqueue("test.flaky", {"succeed_on": 3})
    job = await env.wait(job_id)
    assert job.status == "succeeded" and job.result == {"succeeded_on": 3} and job.attempt == 3
    events = await _collect(env, job_id, "job.succeeded")
    retries = [e for e in events if e.type == "job.retrying"]
    assert len(retries) == 2
    assert retries[0].data["retry_in"] < retries[1].data["retry_in"]  # exponential
    assert retries[0].data["error"]["message"] == "attempt 1 fails on purpose"


async def test_gives_up_after_max_attempts(env: Env) -> None:
    job_id = await env.enqueue("test.flaky", {"succeed_on": 99})
    job = await env.wait(job_id)
    assert job.status == "failed" and job.attempt == 4
    assert job.error == {
        "type": "RuntimeError",
        "message": "attempt 4 fails on purpose",
        "attempt": 4,
    }


async def test_max_attempts_can_be_lowered_per_job(env: Env) -> None:
    job_id = await env.enqueue("test.flaky", {"succeed_on": 99}, max_attempts=1)
    job = await env.wait(job_id)
    assert job.status == "failed" and job.attempt == 1


async def test_permanent_failure_is_not_retried(env: Env) -> None:
    job = await env.wait(await env.enqueue("test.permanent"))
    assert job.status == "failed" and job.attempt == 1
    assert job.error is not None and job.error["type"] == "JobFailed"


async def test_timeout_per_kind(env: Env) -> None:
    job = await env.wait(await env.enqueue("test.slow"))
    assert job.status == "failed" and job.attempt == 2
    assert job.error is not None and job.error["type"] == "Timeout"


async def test_cancel_queued_job(env: Env) -> None:
    job_id = await env.enqueue("test.echo", {}, delay_seconds=60)
    out = await env.container.jobs.cancel(env.actor, job_id)
    assert out.status == "cancelled"
    await asyncio.sleep(0.5)
    job = await env.wait(job_id)
    assert job.status == "cancelled" and job.attempt == 0 and job.started_at is None


async def test_cancel_running_job_cooperatively(env: Env) -> None:
    job_id = await env.enqueue("test.steps", {"steps": 400, "pause": 0.05})
    await env.wait(job_id, JobStatus.RUNNING)
    await asyncio.sleep(0.3)
    out = await env.container.jobs.cancel(env.actor, job_id)
    assert out.cancel_requested
    job = await env.wait(job_id, timeout=10)
    assert job.status == "cancelled"
    assert job.progress is not None and 0 < job.progress["done"] < 399


async def test_a_handler_that_ignores_cancellation_is_stopped(env: Env) -> None:
    job_id = await env.enqueue("test.stubborn")
    await env.wait(job_id, JobStatus.RUNNING)
    await env.container.jobs.cancel(env.actor, job_id)
    job = await env.wait(job_id, timeout=10)
    assert job.status == "cancelled"


async def test_idempotency_key(env: Env) -> None:
    first = await env.enqueue("test.echo", {"n": 1}, idempotency_key="key-1")
    again = await env.enqueue("test.echo", {"n": 1}, idempotency_key="key-1")
    assert first == again
    with pytest.raises(Conflict):
        await env.enqueue("test.echo", {"n": 2}, idempotency_key="key-1")
    racing = await asyncio.gather(
        *[env.enqueue("test.echo", {"n": 3}, idempotency_key="key-2") for _ in range(5)]
    )
    assert len(set(racing)) == 1
    await env.wait(first)
    async with env.container.db.read() as session:
        count = len((await session.scalars(select(Job.id))).all())
    assert count == 2


async def test_unknown_kind_is_refused(env: Env) -> None:
    with pytest.raises(ValidationFailed):
        await env.enqueue("no.such.kind")


async def test_orphaned_running_job_is_reaped_and_rerun(env: Env) -> None:
    """A job left `running` by a dead worker (its lease expired) runs again."""
    job_id = await env.enqueue("test.echo", {"orphan": True}, delay_seconds=3600)
    async with env.container.db.transaction() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status="running",
                attempt=1,
                lease_owner="dead-worker",
                lease_expires_at=datetime.now(UTC) - timedelta(seconds=1),
                run_after=datetime.now(UTC),
            )
        )
    job = await env.wait(job_id)
    assert job.status == "succeeded" and job.attempt == 2


@pytest.mark.parametrize(
    "job_setup", [pytest.param(("inline", "sqlite"), id="inline-sqlite")], indirect=True
)
async def test_restart_picks_up_queued_jobs(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    """Jobs enqueued while no runner runs (the server was down) run at the next start."""
    settings = _fast(settings_factory)
    stopped = build_container(settings)  # never started: nothing runs its jobs
    user = await stopped.users.create("restart@example.com", "a long passphrase")
    async with stopped.db.read() as session:
        workspace_id = await session.scalar(
            select(Workspace.id).where(Workspace.owner_id == user.id)
        )
    actor = Principal(
        user.id,
        user.email,
        "user",
        "free",
        None,
        str(workspace_id),
        WorkspaceRole.OWNER,
        AuthMethod.SESSION,
    )
    ids = [(await stopped.jobs.enqueue(actor, "test.echo", {"i": i})).id for i in range(5)]
    await stopped.close()

    restarted = build_container(settings)
    await restarted.start()
    try:
        for job_id in ids:
            assert (await wait_for_status(restarted.db, job_id)).status == "succeeded"
    finally:
        await restarted.close()


@pytest.mark.parametrize(
    "job_setup", [pytest.param(("inline", "sqlite"), id="inline-sqlite")], indirect=True
)
async def test_a_saturated_runner_waits_instead_of_spinning(env: Env) -> None:
    """With every slot busy, the dispatcher must sleep (a bug once made it spin a core)."""
    ids = [await env.enqueue("test.steps", {"steps": 20, "pause": 0.05}) for _ in range(6)]
    await env.wait(ids[0], JobStatus.RUNNING)
    started = time.process_time()
    await asyncio.sleep(0.6)
    busy = time.process_time() - started
    assert busy < 0.3, f"the process used {busy:.2f} s of CPU in 0.6 s while waiting"
    for job_id in ids:
        await env.wait(job_id)


@pytest.mark.parametrize(
    "job_setup", [pytest.param(("inline", "postgres"), id="pg")], indirect=True
)
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
async def test_broker_doorbell_reaches_a_polling_averse_worker(
    broker: str,
    settings_factory: Callable[..., Settings],
    postgres_admin_url: str,
    workers_factory: list[Workers],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """With polling slowed to once a minute, a job runs within seconds only if the broker's
    message reached the worker."""
    redis_url = request.getfixturevalue("redis_url")
    broker_url = redis_url if broker == "redis" else request.getfixturevalue("amqp_url")
    url = await asyncio.to_thread(
        create_postgres_database, postgres_admin_url, f"codexos_doorbell_{broker}"
    )
    try:
        queue = f"codexos-test-doorbell-{uuid.uuid4().hex[:8]}"
        env = worker_env(tmp_path, url, broker_url, redis_url, queue)
        env["CODEXOS_JOB_POLL_SECONDS"] = "60"
        workers = Workers(tmp_path / "w", env)
        workers_factory.append(workers)
        proc = workers.start(concurrency=2)
        workers.wait_ready(proc)
        await asyncio.sleep(1.0)  # the first idle poll has happened
        settings = settings_factory(
            database_url=url, broker_url=broker_url, broker_queue=queue, redis_url=redis_url
        )
        container = build_container(settings)
        await container.start()
        user = await container.users.create(f"doorbell-{broker}@example.com", "a long passphrase")
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
        job = await container.jobs.enqueue(actor, "test.echo", {"doorbell": broker})
        done = await wait_for_status(container.db, job.id, timeout=8)
        assert done.status == "succeeded", workers.logs()[-3000:]
        await container.close()
        assert "Exception found while listening" not in workers.logs()
    finally:
        for group in workers_factory:
            group.stop_all()
        await asyncio.to_thread(
            drop_postgres_database, postgres_admin_url, f"codexos_doorbell_{broker}"
        )
