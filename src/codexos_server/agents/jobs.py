"""The background job that executes an agent run (`POST /agents/{id}/execute` with async)."""

from __future__ import annotations

from typing import Any

from codexos_server.agents.runs import AGENT_RUN_JOB
from codexos_server.jobs.context import JobContext
from codexos_server.jobs.registry import job_kind


# One attempt: a retried run would repeat its tools' side effects. A run whose worker dies
# ends `failed` (worker lost) rather than running twice.
@job_kind(AGENT_RUN_JOB, timeout=3600, max_attempts=1)
async def run_agent(ctx: JobContext) -> dict[str, Any]:
    run_id = str(ctx.payload["run_id"])
    flag = ctx.services.runs.cancel_check(run_id)

    async def cancelled() -> bool:
        return ctx.cancelled or bool(await flag())

    await ctx.services.runtime.execute(run_id, emit_tokens=True, is_cancelled=cancelled)
    return {"run_id": run_id}
