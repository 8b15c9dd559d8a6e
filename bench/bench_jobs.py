"""Benchmark: no-op jobs per second through the whole path — enqueue via JobService, claimed
by a runner, `succeeded` in the table — against taskiq alone running a no-op task on the same
Redis broker in the same run (target: ratio >= 0.5 for the Redis path). Also reports
enqueue-to-start latency p50/p99 from the table's created_at/started_at.

Paths measured:
  inline/sqlite      the embedded default: the API process runs its own jobs
  taskiq-redis/sqlite  one `codexos worker` process fed by Redis Streams
  taskiq-redis/postgres  the same on PostgreSQL (pgserver)

    .venv/bin/python -m bench.bench_jobs [--jobs 2000] [--redis redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select

import bench.jobs_kinds  # noqa: F401 - registers bench.noop in this process
from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.config import Settings
from codexos_server.container import Container, build_container
from codexos_server.db.database import Database
from codexos_server.db.migrate import upgrade
from codexos_server.jobs.models import Job
from codexos_server.workspaces.models import Workspace
from codexos_server.workspaces.permissions import WorkspaceRole

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET_RATIO = 0.5
CONCURRENCY = 16


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def taskiq_baseline(redis_url: str, total: int) -> float:
    key = f"bench:baseline:{uuid.uuid4().hex}"
    redis = Redis.from_url(redis_url)
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench.taskiq_baseline", "worker", redis_url, str(total), key],
        cwd=ROOT,
    )
    while not await redis.get(f"{key}:ready"):
        await asyncio.sleep(0.05)
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "bench.taskiq_baseline", "kick", redis_url, str(total)],
        cwd=ROOT,
        check=True,
    )
    while (finished := await redis.get(key)) is None:
        await asyncio.sleep(0.01)
    worker.terminate()  # its work is done; taskiq's receiver does not always exit on its own
    worker.wait(timeout=30)
    await redis.delete(key, f"{key}:ready")
    await redis.aclose()
    return total / (float(finished) - started)


def _settings(
    data_dir: Path, database_url: str, broker_url: str | None, redis_url: str | None
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=database_url,
        secret_key="bench-" + "k" * 58,
        broker_url=broker_url,
        redis_url=redis_url,
        job_concurrency=CONCURRENCY,
        job_modules=["bench.jobs_kinds"],
        log_level="WARNING",
        log_format="json",
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
    )


async def _actor(container: Container) -> Principal:
    user = await container.users.create(
        f"bench-{uuid.uuid4().hex[:8]}@example.com", "a long passphrase"
    )
    async with container.db.read() as session:
        workspace_id = await session.scalar(
            select(Workspace.id).where(Workspace.owner_id == user.id)
        )
    return Principal(
        user.id,
        user.email,
        "user",
        "free",
        None,
        str(workspace_id),
        WorkspaceRole.OWNER,
        AuthMethod.SESSION,
    )


async def ours(
    name: str, database_url: str, total: int, data_dir: Path, redis_url: str | None
) -> dict[str, Any]:
    db = Database(database_url)
    await upgrade(db)
    await db.dispose()
    broker = redis_url if name.startswith("taskiq") else None
    settings = _settings(data_dir, database_url, broker, redis_url if broker else None)
    container = build_container(settings)
    worker = None
    if broker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXOS_")}
        env.update(
            CODEXOS_DATA_DIR=str(data_dir),
            CODEXOS_DATABASE_URL=database_url,
            CODEXOS_SECRET_KEY=settings.resolved_secret_key(),
            CODEXOS_BROKER_URL=broker,
            CODEXOS_REDIS_URL=broker,
            CODEXOS_JOB_MODULES='["bench.jobs_kinds"]',
            CODEXOS_LOG_LEVEL="INFO",
            CODEXOS_LOG_FORMAT="json",
            PYTHONPATH=str(ROOT),
        )
        log = (data_dir / "worker.log").open("wb")
        worker = subprocess.Popen(
            [str(BIN / "codexos"), "worker", "--concurrency", str(CONCURRENCY)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        while b"job runner started" not in (data_dir / "worker.log").read_bytes():
            await asyncio.sleep(0.05)
    await container.start()
    actor = await _actor(container)
    started = time.perf_counter()
    for start in range(0, total, 50):
        await asyncio.gather(
            *[
                container.jobs.enqueue(actor, "bench.noop", {})
                for _ in range(start, min(total, start + 50))
            ]
        )
    enqueued = time.perf_counter()
    while True:
        async with container.db.read() as session:
            done = await session.scalar(
                select(func.count()).select_from(Job).where(Job.status == "succeeded")
            )
        if done == total:
            break
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    async with container.db.read() as session:
        rows = (await session.execute(select(Job.created_at, Job.started_at))).all()
    latencies = [(s - c).total_seconds() * 1000 for c, s in rows]
    await container.close()
    if worker:
        worker.terminate()
        worker.wait(timeout=30)
    return {
        "path": name,
        "jobs_per_s": total / elapsed,
        "enqueue_per_s": total / (enqueued - started),
        "start_p50_ms": percentile(latencies, 0.5),
        "start_p99_ms": percentile(latencies, 0.99),
    }


def _postgres_url(tmp: Path) -> str:
    import pgserver

    server = pgserver.get_server(tmp / "pg", cleanup_mode="stop")
    name = f"bench_{uuid.uuid4().hex[:8]}"
    server.psql(f'CREATE DATABASE "{name}";')
    return f"postgresql+asyncpg://postgres@/{name}?host={tmp / 'pg'}"


async def run(total: int, redis_url: str) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="codexos-bench-jobs-") as tmp_name:
        tmp = Path(tmp_name)
        redis = Redis.from_url(redis_url)
        await redis.flushdb()
        await redis.aclose()
        baseline = await taskiq_baseline(redis_url, total)
        for name, url in (
            ("inline/sqlite", f"sqlite+aiosqlite:///{tmp}/inline.db"),
            ("taskiq-redis/sqlite", f"sqlite+aiosqlite:///{tmp}/taskiq.db"),
            ("taskiq-redis/postgres", _postgres_url(tmp)),
        ):
            data = tmp / name.replace("/", "-")
            data.mkdir()
            result = await ours(name, url, total, data, redis_url)
            result["ratio_to_taskiq"] = result["jobs_per_s"] / baseline
            results.append(result)
        baseline_again = await taskiq_baseline(redis_url, total)
    print(
        f"taskiq alone (no-op task, Redis Streams): {baseline:,.0f} then {baseline_again:,.0f} tasks/s"
    )
    base = statistics.mean([baseline, baseline_again])
    for r in results:
        r["ratio_to_taskiq"] = r["jobs_per_s"] / base
        print(
            f"{r['path']:<24} {r['jobs_per_s']:>8,.0f} jobs/s  ratio {r['ratio_to_taskiq']:.2f}  "
            f"enqueue {r['enqueue_per_s']:>7,.0f}/s  start p50 {r['start_p50_ms']:.1f} ms  p99 {r['start_p99_ms']:.1f} ms"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument(
        "--redis", default=os.environ.get("CODEXOS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    args, _ = parser.parse_known_args(argv)
    results = asyncio.run(run(args.jobs, args.redis))
    redis_path = [r for r in results if r["path"].startswith("taskiq")]
    ok = all(r["ratio_to_taskiq"] >= TARGET_RATIO for r in redis_path)
    print(f"target ratio >= {TARGET_RATIO} on the Redis path: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
