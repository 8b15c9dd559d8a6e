"""Nodes that pause: `wait`, `human_approval` and `map`. Each runs its decision under the
run's lock and either returns a result or leaves the node `waiting` (raising `Paused`) with a
delayed job to wake it, or — for `map` — child runs whose end wakes it again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.db.base import utcnow
from codexos_server.workflows.expressions import ExpressionError, evaluate, render
from codexos_server.workflows.models import Approval, NodeRun, NodeStatus, RunStatus, WorkflowRun
from codexos_server.workflows.nodes import NodeError, NodeResult, check_json
from codexos_server.workflows.spec import Node
from codexos_server.workflows.state import (
    BUSY,
    DEFAULT_MAP_CONCURRENCY,
    RUN_DONE,
    Paused,
    Progress,
    run_inputs,
)

if TYPE_CHECKING:
    from codexos_server.workflows.engine import Engine


async def pause(
    engine: Engine,
    session: AsyncSession,
    run: WorkflowRun,
    node_id: str,
    wake_in: float | None,
    progress: Progress,
) -> None:
    """Mark a node waiting (in the caller's transaction, under the run lock), with a
    delayed job to wake it if `wake_in` is set."""
    rows = await engine.rows(session, run.id)
    row = rows[node_id]
    first = row.status != NodeStatus.WAITING
    row.status = NodeStatus.WAITING.value
    if wake_in is not None:
        row.wake_at = utcnow() + timedelta(seconds=wake_in)
        row.job_id = engine.stage(session, run, node_id, progress, wake_in)
    if first:
        progress.event(
            run.id,
            "node.waiting",
            node_id=node_id,
            wake_at=row.wake_at.isoformat() if row.wake_at else None,
        )
    if not BUSY.intersection(r.status for r in rows.values()) and run.status != RunStatus.WAITING:
        run.status = RunStatus.WAITING.value
        progress.run_event(run, "run.waiting")


async def locked_step(
    engine: Engine,
    run: WorkflowRun,
    step: Callable[[AsyncSession, WorkflowRun, Progress], Awaitable[NodeResult | None]],
) -> NodeResult:
    """Run `step` under the run's lock; it returns a result or None to pause."""
    progress = Progress()
    async with engine.db.transaction() as session:
        locked = await engine.lock(session, run.id)
        if locked is None or locked.status in RUN_DONE:
            raise Paused
        result = await step(session, locked, progress)
    await engine.after(progress)
    if result is None:
        raise Paused
    return result


async def wait_node(
    engine: Engine, run: WorkflowRun, node: Node, scope: dict[str, Any], started_at: datetime | None
) -> NodeResult:
    if "until" in node.config:
        try:
            target = datetime.fromisoformat(
                str(render(node.config["until"], scope)).replace("Z", "+00:00")
            )
        except (ExpressionError, ValueError) as exc:
            raise NodeError(f"until: {exc}") from exc
        if target.tzinfo is not None:
            target = target.astimezone(utcnow().tzinfo).replace(tzinfo=utcnow().tzinfo)
    else:
        target = (started_at or utcnow()) + timedelta(seconds=float(node.config.get("seconds", 0)))
    remaining = (target - utcnow()).total_seconds()
    if remaining <= 0.005:
        return NodeResult({"waited_until": target.isoformat()})

    async def step(
        session: AsyncSession, locked: WorkflowRun, progress: Progress
    ) -> NodeResult | None:
        await pause(engine, session, locked, node.id, remaining, progress)
        return None

    return await locked_step(engine, run, step)


async def approval_node(
    engine: Engine, run: WorkflowRun, node: Node, scope: dict[str, Any]
) -> NodeResult:
    try:
        prompt = str(render(node.config.get("prompt", ""), scope))
    except ExpressionError as exc:
        raise NodeError(f"prompt: {exc}") from exc

    async def step(
        session: AsyncSession, locked: WorkflowRun, progress: Progress
    ) -> NodeResult | None:
        approval = await session.scalar(
            select(Approval).where(Approval.run_id == run.id, Approval.node_id == node.id)
        )
        now = utcnow()
        if approval is None:
            timeout = node.config.get("timeout_seconds")
            approval = Approval(
                run_id=run.id,
                workspace_id=run.workspace_id,
                node_id=node.id,
                prompt=prompt,
                status="pending",
                expires_at=now + timedelta(seconds=float(timeout)) if timeout else None,
                default_outcome=str(node.config.get("default", "reject")),
            )
            session.add(approval)
            await session.flush()
            progress.event(
                run.id,
                "approval.requested",
                node_id=node.id,
                approval_id=approval.id,
                prompt=prompt,
            )
            wake = float(timeout) if timeout else None
            await pause(engine, session, locked, node.id, wake, progress)
            return None
        if (
            approval.status == "pending"
            and approval.expires_at is not None
            and approval.expires_at <= now
        ):
            approval.status = "timed_out"
            approval.comment = f"no decision in time; default outcome: {approval.default_outcome}"
        if approval.status == "pending":
            return None
        approved = approval.status == "approved" or (
            approval.status == "timed_out" and approval.default_outcome == "approve"
        )
        output = {
            "approved": approved,
            "outcome": approval.status,
            "decided_by": approval.decided_by,
            "comment": approval.comment,
        }
        return NodeResult(output, "approved" if approved else "rejected")

    return await locked_step(engine, run, step)


async def map_node(
    engine: Engine, run: WorkflowRun, node: Node, scope: dict[str, Any]
) -> NodeResult:
    """Run the sub-graph once per item as child runs, at most `concurrency` at a time.
    A finishing child wakes this node again (see `settling.close`)."""

    async def step(
        session: AsyncSession, locked: WorkflowRun, progress: Progress
    ) -> NodeResult | None:
        row = await session.scalar(
            select(NodeRun).where(NodeRun.run_id == run.id, NodeRun.node_id == node.id)
        )
        assert row is not None
        if isinstance(row.input, dict) and "items" in row.input:
            items = list(row.input["items"])
        else:
            try:
                items = evaluate(str(node.config["items"]), scope)
            except ExpressionError as exc:
                raise NodeError(f"items: {exc}") from exc
            if not isinstance(items, list):
                raise NodeError(f"items must evaluate to a list, not {type(items).__name__}")
            check_json(items)
            row.input = {"items": items}
        children = (
            await session.scalars(
                select(WorkflowRun).where(
                    WorkflowRun.parent_run_id == run.id, WorkflowRun.parent_node_key == node.id
                )
            )
        ).all()
        by_index = {c.item_index: c for c in children}
        failed = next(
            (c for c in children if c.status in (RunStatus.FAILED, RunStatus.CANCELLED)), None
        )
        if failed is not None:
            reason = (failed.error or {}).get("message", failed.status)
            raise NodeError(f"item {failed.item_index} {failed.status}: {reason}")
        if len(by_index) == len(items) and all(c.status == RunStatus.SUCCEEDED for c in children):
            return NodeResult([by_index[i].output for i in range(len(items))])
        running = sum(1 for c in children if c.status not in RUN_DONE)
        free = int(node.config.get("concurrency", DEFAULT_MAP_CONCURRENCY)) - running
        for index in [i for i in range(len(items)) if i not in by_index][: max(0, free)]:
            child = WorkflowRun(
                workspace_id=run.workspace_id,
                workflow_id=run.workflow_id,
                workflow_version=run.workflow_version,
                user_id=run.user_id,
                parent_run_id=run.id,
                parent_node_key=node.id,
                graph_path=[*(run.graph_path or []), node.id],
                item_index=index,
                trigger="map",
                status=RunStatus.QUEUED.value,
                inputs={"item": items[index], "index": index, "inputs": run_inputs(run)},
            )
            session.add(child)
            await session.flush()
            await engine.start_in(session, child, progress)
        await pause(engine, session, locked, node.id, None, progress)
        return None

    return await locked_step(engine, run, step)


# -- operations on a whole run (the runs service calls these) ----------------------------
