"""The job that runs one workflow node (`workflow.node`)."""

from __future__ import annotations

from typing import Any

from codexos_server.jobs.context import JobContext
from codexos_server.jobs.registry import job_kind
from codexos_server.log import get_logger
from codexos_server.workflows.engine import NODE_JOB

log = get_logger("codexos.workflows")


# Node failures are handled by the engine (the node's own retry policy); the job's attempts
# only cover the infrastructure: a dead worker (the lease expires and the node runs again)
# or a lost database. After the last one the node fails through its `on_error`.
@job_kind(NODE_JOB, timeout=3600, max_attempts=5, backoff_base=0.5, backoff_max=10)
async def run_workflow_node(ctx: JobContext) -> dict[str, Any]:
    run_id, node_id = str(ctx.payload["run_id"]), str(ctx.payload["node_id"])
    engine = ctx.services.workflow_engine
    try:
        await engine.run_node(run_id, node_id)
    except Exception as exc:
        if ctx.attempt >= ctx.max_attempts:
            log.error("workflow_node_gave_up", run_id=run_id, node_id=node_id, error=repr(exc))
            await engine.fail_node(run_id, node_id, f"the node's job failed: {exc!r}")
        raise
    return {"run_id": run_id, "node_id": node_id}
