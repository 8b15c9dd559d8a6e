"""Job kinds used by the job tests. Worker processes load them with
CODEXOS_JOB_MODULES=tests.jobs_fixtures, exactly as a plugin would be loaded."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sqlalchemy import text

from codexos_server.jobs.context import JobContext, JobFailed
from codexos_server.jobs.registry import job_kind

EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS job_effects ("
    "job_id VARCHAR(36) PRIMARY KEY, worker VARCHAR(100) NOT NULL, attempt INTEGER NOT NULL)"
)


@job_kind("test.echo")
async def echo(ctx: JobContext) -> Any:
    return {"echo": ctx.payload, "attempt": ctx.attempt}


@job_kind("test.noop", max_attempts=1)
async def noop(ctx: JobContext) -> None:
    return None


@job_kind("test.flaky", max_attempts=4, backoff_base=0.05, backoff_max=0.2)
async def flaky(ctx: JobContext) -> Any:
    if ctx.attempt < int(ctx.payload["succeed_on"]):
        raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
    return {"succeeded_on": ctx.attempt}


@job_kind("test.permanent", max_attempts=5, backoff_base=0.05)
async def permanent(ctx: JobContext) -> Any:
    raise JobFailed("bad input, retrying cannot help", retry=False)


@job_kind("test.slow", timeout=0.3, max_attempts=2, backoff_base=0.05)
async def slow(ctx: JobContext) -> Any:
    await asyncio.sleep(5)


@job_kind("test.steps", max_attempts=1)
async def steps(ctx: JobContext) -> Any:
    total = int(ctx.payload.get("steps", 10))
    for step in range(total):
        ctx.check_cancelled()
        await ctx.progress(done=step, total=total)
        await asyncio.sleep(float(ctx.payload.get("pause", 0.05)))
    return {"steps": total}


@job_kind("test.stubborn", max_attempts=1)
async def stubborn(ctx: JobContext) -> Any:
    await asyncio.sleep(30)  # never checks for cancellation


@job_kind("test.effect", max_attempts=5, backoff_base=0.05)
async def effect(ctx: JobContext) -> Any:
    """A side effect made idempotent by the job id: at-least-once delivery, exactly-once effect."""
    await asyncio.sleep(float(ctx.payload.get("sleep", 0.0)))
    async with ctx.services.db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO job_effects (job_id, worker, attempt) VALUES (:job, :worker, :attempt) "
                "ON CONFLICT (job_id) DO NOTHING"
            ),
            {"job": ctx.job_id, "worker": str(os.getpid()), "attempt": ctx.attempt},
        )
    return {"pid": os.getpid()}
