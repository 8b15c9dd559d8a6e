"""The no-op job kind of the jobs benchmark (loaded with CODEXOS_JOB_MODULES=bench.jobs_kinds)."""

from __future__ import annotations

from codexos_server.jobs.context import JobContext
from codexos_server.jobs.registry import job_kind


@job_kind("bench.noop", max_attempts=1)
async def noop(ctx: JobContext) -> None:
    return None
