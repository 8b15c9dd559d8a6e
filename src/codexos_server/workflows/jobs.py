"""The job that runs workflow nodes (`workflow.node`).

A job starts with the node in its payload and goes on with each next node it adopts (see
`settling.settle`): a chain of nodes runs on one job without a queue round trip per node, while
fan-out branches are queued for other slots and workers. After `CHAIN_SECONDS` a job stops
adopting, so one job never holds a long workflow for hours.
"""

from __future__ import annotations

import time
from typing import Any

from codexos_server.jobs.context import JobCancelled, JobContext
from codexos_server.jobs.registry import job_kind
from codexos_server.log import get_logger
from codexos_server.workflows.state import NODE_JOB

log = get_logger("codexos.workflows")

CHAIN_SECONDS = 60.0


# Node failures are handled by the engine (the node's own retry policy); the job's attempts
# only cover the infrastructure: a dead worker (the lease expires and the job runs again,
# resuming the nodes it held) or a lost database. After the last one the nodes fail through
# their `on_error`.
@job_kind(NODE_JOB, timeout=3600, max_attempts=5, backoff_base=0.5, backoff_max=10)
async def run_workflow_nodes(ctx: JobContext) -> dict[str, Any]:
    engine = ctx.services.workflow_engine
    started = time.monotonic()
    todo = [(str(ctx.payload["run_id"]), str(ctx.payload["node_id"]))]
    if ctx.attempt > 1:
        todo += [n for n in await engine.adopted_by(ctx.job_id) if n not in todo]
    ran: list[str] = []
    current = todo[0]
    try:
        for run_id, node_id in todo:
            current = (run_id, node_id)
            adopt = ctx.job_id if time.monotonic() - started < CHAIN_SECONDS else None
            following = await engine.run_node(run_id, node_id, job_id=adopt)
            ran.append(node_id)
            while following is not None:
                ctx.check_cancelled()
                current = (following.run.id, following.node_id)
                adopt = ctx.job_id if time.monotonic() - started < CHAIN_SECONDS else None
                following = await engine.run_node(
                    following.run.id, following.node_id, job_id=adopt, continuation=following
                )
                ran.append(current[1])
    except JobCancelled:
        raise
    except Exception as exc:
        if ctx.attempt >= ctx.max_attempts:
            log.error(
                "workflow_node_gave_up", run_id=current[0], node_id=current[1], error=repr(exc)
            )
            await engine.fail_node(current[0], current[1], f"the node's job failed: {exc!r}")
        raise
    return {"run_id": todo[0][0], "nodes": ran}
