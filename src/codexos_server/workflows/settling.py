"""Settling a run after a node changed: which pending nodes became ready or skipped, the pure
ones run inline, the others staged as jobs (or adopted by the current job), the run's status,
and closing the run when nothing is left. Always inside the caller's transaction, under the
run's lock, so a node's result and what follows from it commit together."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.db.base import utcnow
from codexos_server.monitoring.tracing import node_span
from codexos_server.workflows.graph import decide, incoming
from codexos_server.workflows.models import NodeRun, NodeStatus, RunStatus, WorkflowRun
from codexos_server.workflows.nodes import EXECUTORS, NodeEnv, check_json
from codexos_server.workflows.spec import Node, WorkflowSpec
from codexos_server.workflows.state import (
    ACTIVE,
    BUSY,
    INLINE_TYPES,
    RUN_DONE,
    Progress,
    run_inputs,
    run_output,
)

if TYPE_CHECKING:
    from codexos_server.workflows.engine import Engine


async def settle(
    engine: Engine,
    session: AsyncSession,
    run: WorkflowRun,
    graph: WorkflowSpec,
    rows: dict[str, NodeRun],
    progress: Progress,
    adopt_job: str | None = None,
) -> None:
    """Decide which pending nodes became ready or skipped, run the pure ones inline, stage
    jobs for the others, set the run's status, and close it when nothing is left.

    With `adopt_job` (settling after a node of that job), the first ready node is not
    queued but marked running for that same job, which runs it next: a chain of nodes
    costs no queue round trip per node. Its state is committed here like any other, and
    a re-delivered job resumes the nodes it had adopted (see workflows/jobs.py)."""
    edges = incoming(graph)
    states = {k: {"status": v.status, "branch": v.branch} for k, v in rows.items()}
    changed = True
    while changed:
        changed = False
        for node in graph.nodes:
            if states[node.id]["status"] != NodeStatus.PENDING:
                continue
            verdict = decide(node.type, node.config, edges.get(node.id, []), states)
            if verdict is None:
                continue
            row = rows[node.id]
            changed = True
            if verdict == "skipped":
                row.status, row.finished_at = NodeStatus.SKIPPED.value, utcnow()
                progress.event(run.id, "node.skipped", node_id=node.id)
            elif node.type in INLINE_TYPES and await _inline(
                engine, session, run, graph, rows, node, progress
            ):
                pass
            elif adopt_job and progress.adopted is None:
                row.status, row.job_id, row.error = NodeStatus.RUNNING.value, adopt_job, None
                row.attempt, row.started_at = row.attempt + 1, utcnow()
                progress.adopted = node.id
                progress.event(
                    run.id, "node.started", node_id=node.id, type=node.type, attempt=row.attempt
                )
            else:
                row.status = NodeStatus.READY.value
                row.job_id = engine.stage(session, run, node.id, progress)
            states[node.id] = {"status": row.status, "branch": row.branch}
    left = [v.status for v in rows.values() if v.status in ACTIVE]
    if not left:
        await close(engine, session, run, graph, rows, RunStatus.SUCCEEDED, None, progress)
    elif not BUSY.intersection(left):  # only paused nodes (and what follows them)
        if run.status != RunStatus.WAITING:
            run.status = RunStatus.WAITING.value
            progress.run_event(run, "run.waiting")
    elif run.status != RunStatus.RUNNING:
        run.status = RunStatus.RUNNING.value


async def _inline(
    engine: Engine,
    session: AsyncSession,
    run: WorkflowRun,
    graph: WorkflowSpec,
    rows: dict[str, NodeRun],
    node: Node,
    progress: Progress,
) -> bool:
    """Run a pure node (no side effects, no I/O: input, output, template, condition,
    switch, parallel, join) right here, in the settling transaction, so control flow
    costs no job of its own. Its result commits atomically with the settle, so a crash
    cannot leave it half-done. On any error it goes the normal way (a job, with the
    node's retry policy and on_error), and False is returned."""
    started = utcnow()
    scope, incoming_outputs = engine.node_scope(run, graph, rows, node.id)
    if run.parent_run_id:
        scope["nodes"] = await engine.outer_nodes(session, run) | scope["nodes"]
    env = NodeEnv(
        run.id,
        node.id,
        run.workspace_id,
        run.user_id,
        run_inputs(run),
        engine.services,
        incoming_outputs,
    )
    try:
        with node_span(run.id, node.id, node.type, 1, inline=True):
            result = await EXECUTORS[node.type](node, scope, env)
            check_json(result.output)
    except Exception:
        return False
    row = rows[node.id]
    finished = utcnow()
    row.status, row.output, row.branch, row.attempt = (
        NodeStatus.SUCCEEDED.value,
        result.output,
        result.branch,
        1,
    )
    row.started_at, row.finished_at = started, finished
    row.duration_ms = round((finished - started).total_seconds() * 1000, 3)
    progress.event(run.id, "node.started", node_id=node.id, type=node.type, attempt=1)
    progress.event(
        run.id,
        "node.succeeded",
        node_id=node.id,
        branch=result.branch,
        output=result.output,
        error=None,
    )
    return True


async def close(
    engine: Engine,
    session: AsyncSession,
    run: WorkflowRun,
    graph: WorkflowSpec,
    rows: dict[str, NodeRun],
    status: RunStatus,
    error: dict[str, Any] | None,
    progress: Progress,
) -> None:
    """End a run in the caller's transaction: cancel what is left (and its map items),
    compute its output, wake the parent map node, run the finish hooks."""
    now = utcnow()
    for row in rows.values():
        if row.status in ACTIVE:
            row.status = NodeStatus.CANCELLED.value
            row.finished_at = now
            if row.job_id:
                progress.cancel_jobs.append(row.job_id)
    children = (
        await session.scalars(
            select(WorkflowRun).where(
                WorkflowRun.parent_run_id == run.id, WorkflowRun.status.not_in(RUN_DONE)
            )
        )
    ).all()
    for child in children:
        await close(
            engine,
            session,
            child,
            await engine.graph(session, child),
            await engine.rows(session, child.id),
            RunStatus.CANCELLED,
            None,
            progress,
        )
    if status == RunStatus.SUCCEEDED:
        run.output = run_output(graph, rows)
    run.status, run.error, run.finished_at = status.value, error, now
    progress.run_event(
        run, f"run.{status.value}", status=status.value, output=run.output, error=error
    )
    if run.parent_run_id and run.parent_node_key:
        parent = await session.get(WorkflowRun, run.parent_run_id)
        if parent is not None and parent.status not in RUN_DONE:
            engine.stage(session, parent, run.parent_node_key, progress)
        return
    for hook in engine.finish_hooks:
        await hook(session, run, progress)
