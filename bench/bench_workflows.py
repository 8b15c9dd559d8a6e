"""Benchmark: the workflow engine.

1. Engine overhead per node (inline runner, SQLite, scripted model): runs of 10 sequential
   `llm` nodes. A node's overhead is the time from its predecessor's recorded finish to its
   own, minus the node's own work — the `llm` executor called directly in the same process
   and run (the baseline). Target: p50 <= 5 ms.
2. Throughput: 100 concurrent runs of a 10-node workflow with two parallel branches whose six
   work nodes each sleep 50 ms (an I/O-bound call, like a model or HTTP request). Reported as
   total time / (sum of the nodes' own work / available parallelism), where parallelism is
   the number of job slots (inline: one process; Redis: two `codexos worker` processes).

    .venv/bin/python -m bench.bench_workflows [--runs 100] [--redis redis://127.0.0.1:6379/15]
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
from sqlalchemy import select

import bench.workflow_kinds  # noqa: F401 - registers the bench_sleep tool in this process
from bench.bench_jobs import _actor, _postgres_url, percentile
from codexos_server.config import Settings
from codexos_server.container import Container, build_container
from codexos_server.db.database import Database
from codexos_server.db.migrate import upgrade
from codexos_server.workflows.models import NodeRun, WorkflowRun
from codexos_server.workflows.nodes import EXECUTORS, NodeEnv
from codexos_server.workflows.schemas import WorkflowCreate
from codexos_server.workflows.spec import Node

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET_P50_MS = 5.0
SLOTS = 16  # job slots per process
WORK_SECONDS = 0.05
WORK_NODES = ("a", "b1", "c1", "b2", "c2", "d")
FINISHED = ("succeeded", "failed", "cancelled")

LLM = {"provider": "scripted", "options": {"script": [{"content": "a short answer"}]}}
CHAIN = {
    "nodes": [
        {
            "id": f"n{i}",
            "type": "llm",
            "config": {"prompt": f"step {i}: {{{{ inputs.topic }}}}", "model": LLM},
        }
        for i in range(10)
    ],
    "edges": [{"source": f"n{i}", "target": f"n{i + 1}"} for i in range(9)],
}


def _work(node_id: str) -> dict[str, Any]:
    arguments = {"seconds": WORK_SECONDS}
    return {
        "id": node_id,
        "type": "tool",
        "config": {"tool": "bench_sleep", "arguments": arguments},
    }


BRANCHES = {
    "nodes": [
        {"id": "in", "type": "input"},
        _work("a"),
        {"id": "fan", "type": "parallel"},
        _work("b1"),
        _work("c1"),
        _work("b2"),
        _work("c2"),
        {"id": "join", "type": "join"},
        _work("d"),
        {"id": "out", "type": "output", "config": {"value": "{{ nodes.d.output }}"}},
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


def _settings(data_dir: Path, database_url: str, broker_url: str | None = None) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=database_url,
        secret_key="bench-" + "k" * 58,
        broker_url=broker_url,
        redis_url=broker_url,
        broker_queue=f"codexos-bench-wf-{uuid.uuid4().hex[:6]}",
        job_concurrency=SLOTS,
        job_modules=["bench.workflow_kinds"],
        llm_provider="scripted",
        scheduler_enabled=False,
        log_level="WARNING",
        log_format="json",
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
    )


async def _migrated(url: str) -> None:
    db = Database(url)
    await upgrade(db)
    await db.dispose()


async def _wait_all(container: Container, run_ids: list[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with container.db.read() as session:
            statuses = (
                await session.scalars(select(WorkflowRun.status).where(WorkflowRun.id.in_(run_ids)))
            ).all()
        if all(s in FINISHED for s in statuses):
            bad = [s for s in statuses if s != "succeeded"]
            if bad:
                raise RuntimeError(f"{len(bad)} runs did not succeed: {set(bad)}")
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs unfinished: {statuses}")
        await asyncio.sleep(0.01)


async def own_work_llm(container: Container, samples: int = 300) -> list[float]:
    """The `llm` node's executor alone (render + scripted model call), in ms."""
    node = Node.model_validate(CHAIN["nodes"][0])
    actor = await _actor(container)
    env = NodeEnv("r", "n0", actor.workspace_id, None, {"topic": "x"}, container, {})
    scope = {"inputs": {"topic": "tides"}, "nodes": {}}
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        await EXECUTORS["llm"](node, scope, env)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def overhead(tmp: Path, url: str, runs: int = 30) -> dict[str, Any]:
    await _migrated(url)
    container = build_container(_settings(tmp, url))
    await container.start()
    actor = await _actor(container)
    workflow = await container.workflows.create(actor, WorkflowCreate(name="chain", spec=CHAIN))
    await _wait_all(
        container,
        [(await container.workflow_runs.start(actor, workflow.id, {"topic": "warm"}))[0].id],
    )
    work_before = await own_work_llm(container)
    per_node: list[float] = []
    for i in range(runs):
        run, _ = await container.workflow_runs.start(actor, workflow.id, {"topic": f"t{i}"})
        await _wait_all(container, [run.id])
        async with container.db.read() as session:
            created = (await session.get(WorkflowRun, run.id)).created_at  # type: ignore[union-attr]
            rows = {
                r.node_id: r
                for r in (
                    await session.scalars(select(NodeRun).where(NodeRun.run_id == run.id))
                ).all()
            }
        previous = created
        for n in range(10):
            finished = rows[f"n{n}"].finished_at
            assert finished is not None
            per_node.append((finished - previous).total_seconds() * 1000)
            previous = finished
    work_after = await own_work_llm(container)
    await container.close()
    own = statistics.median(work_before + work_after)
    overheads = [p - own for p in per_node]
    return {
        "own_work_ms": own,
        "node_p50_ms": percentile(per_node, 0.5),
        "overhead_p50_ms": percentile(overheads, 0.5),
        "overhead_p95_ms": percentile(overheads, 0.95),
        "nodes": len(per_node),
    }


def _worker(data_dir: Path, url: str, settings: Settings, index: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXOS_")}
    env.update(
        CODEXOS_DATA_DIR=str(data_dir),
        CODEXOS_DATABASE_URL=url,
        CODEXOS_SECRET_KEY=settings.resolved_secret_key(),
        CODEXOS_BROKER_URL=str(settings.broker_url),
        CODEXOS_BROKER_QUEUE=settings.broker_queue,
        CODEXOS_REDIS_URL=str(settings.redis_url),
        CODEXOS_JOB_MODULES='["bench.workflow_kinds"]',
        CODEXOS_SCHEDULER_ENABLED="false",
        CODEXOS_LOG_LEVEL="INFO",
        CODEXOS_LOG_FORMAT="json",
        PYTHONPATH=str(ROOT),
    )
    log_path = data_dir / f"worker-{index}.log"
    return subprocess.Popen(
        [str(BIN / "codexos"), "worker", "--concurrency", str(SLOTS)],
        env=env,
        cwd=ROOT,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def throughput(
    name: str, url: str, data_dir: Path, runs: int, redis_url: str | None
) -> dict[str, Any]:
    await _migrated(url)
    settings = _settings(data_dir, url, redis_url)
    container = build_container(settings)
    workers = []
    if redis_url:
        workers = [_worker(data_dir, url, settings, i) for i in range(2)]
        for i in range(2):
            while b"job runner started" not in (data_dir / f"worker-{i}.log").read_bytes():
                await asyncio.sleep(0.05)
    await container.start()
    actor = await _actor(container)
    workflow = await container.workflows.create(
        actor, WorkflowCreate(name="branches", spec=BRANCHES)
    )
    await _wait_all(
        container, [(await container.workflow_runs.start(actor, workflow.id, {}))[0].id]
    )
    started = time.perf_counter()
    run_ids = [
        out.id
        for out, _ in await asyncio.gather(
            *[container.workflow_runs.start(actor, workflow.id, {"i": i}) for i in range(runs)]
        )
    ]
    await _wait_all(container, run_ids)
    elapsed = time.perf_counter() - started
    await container.close()
    for worker in workers:
        worker.terminate()
        worker.wait(timeout=30)
    parallelism = SLOTS * (2 if redis_url else 1)
    ideal = runs * len(WORK_NODES) * WORK_SECONDS / parallelism
    return {
        "path": name,
        "seconds": elapsed,
        "ideal_seconds": ideal,
        "ratio": elapsed / ideal,
        "slots": parallelism,
    }


async def run(runs: int, redis_url: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="codexos-bench-wf-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "overhead").mkdir()
        costs = {
            "sqlite": await overhead(tmp / "overhead", f"sqlite+aiosqlite:///{tmp}/overhead.db"),
            "postgres": await overhead(tmp / "overhead", _postgres_url(tmp)),
        }
        print("  measured the per-node overhead", flush=True)
        redis = Redis.from_url(redis_url)
        await redis.flushdb()
        await redis.aclose()
        results = []
        for name, url, broker in (
            ("inline/sqlite", f"sqlite+aiosqlite:///{tmp}/inline.db", None),
            ("inline/postgres", _postgres_url(tmp), None),
            ("2 redis workers/postgres", _postgres_url(tmp), redis_url),
        ):
            data = tmp / name.replace("/", "-").replace(" ", "-")
            data.mkdir()
            results.append(await throughput(name, url, data, runs, broker))
            print(f"  measured {name}", flush=True)
    return costs, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument(
        "--redis", default=os.environ.get("CODEXOS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    args, _ = parser.parse_known_args(argv)
    costs, results = asyncio.run(run(args.runs, args.redis))
    for backend, cost in costs.items():
        print(
            f"engine overhead per node (inline, {backend}, scripted llm; {cost['nodes']} nodes): "
            f"p50 {cost['overhead_p50_ms']:.2f} ms, p95 {cost['overhead_p95_ms']:.2f} ms "
            f"(node's own work {cost['own_work_ms']:.2f} ms, node p50 {cost['node_p50_ms']:.2f} ms)"
        )
        ok = cost["overhead_p50_ms"] <= TARGET_P50_MS
        print(f"target p50 <= {TARGET_P50_MS} ms on {backend}: {'met' if ok else 'NOT met'}")
    for r in results:
        print(
            f"{args.runs} runs x 10 nodes, {r['path']:<26} {r['seconds']:6.2f} s  "
            f"ideal {r['ideal_seconds']:.2f} s ({r['slots']} slots)  ratio {r['ratio']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
