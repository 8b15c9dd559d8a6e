"""The workflow engine. A run is a set of node states; every ready node is its own job
(`workflow.node`), so independent branches run in parallel and on any worker.

Durability rests on one rule: a node's result, the settling of what became ready or skipped,
and the jobs for the ready nodes are written in ONE transaction (the jobs are staged in the
caller's transaction, a transactional outbox). A crash therefore loses at most the node in
flight, whose job is leased and re-run by another worker; a finished node is never run again.
Transactions that change a run take its row lock (FOR UPDATE on PostgreSQL; SQLite's single
writer serialises them anyway), so two nodes finishing together settle one after the other.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.events.bus import EventBus
from codexos_server.jobs.service import JobService
from codexos_server.log import get_logger
from codexos_server.monitoring.tracing import node_span
from codexos_server.workflows.graph import ERROR_BRANCH, edge_state, incoming, subgraph
from codexos_server.workflows.models import (
    NODE_FINISHED,
    NodeRun,
    NodeStatus,
    RunStatus,
    WorkflowRun,
    WorkflowVersion,
)
from codexos_server.workflows.nodes import EXECUTORS, NodeEnv, NodeError, NodeResult, check_json
from codexos_server.workflows.pausing import approval_node, map_node, wait_node
from codexos_server.workflows.settling import close, settle
from codexos_server.workflows.spec import Node, WorkflowSpec
from codexos_server.workflows.state import (
    NODE_JOB,
    RUN_DONE,
    RUNNABLE,
    Continuation,
    FinishHook,
    Paused,
    Progress,
    run_channel,
    run_inputs,
)

log = get_logger("codexos.workflows")


class Engine:
    def __init__(self, db: Database, events: EventBus, jobs: JobService) -> None:
        self.db = db
        self.events = events
        self.jobs = jobs
        self.services: Any = None  # the Container, for executors
        self.finish_hooks: list[FinishHook] = []
        self._specs: dict[tuple[str, int], WorkflowSpec] = {}

    # -- loading ------------------------------------------------------------------------

    async def spec(self, session: AsyncSession, workflow_id: str, version: int) -> WorkflowSpec:
        """A workflow version's spec (immutable, so cached for the process)."""
        key = (workflow_id, version)
        spec = self._specs.get(key)
        if spec is None:
            raw = await session.scalar(
                select(WorkflowVersion.spec).where(
                    WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.version == version
                )
            )
            spec = self._specs[key] = WorkflowSpec.model_validate(raw or {"nodes": []})
        return spec

    async def graph(self, session: AsyncSession, run: WorkflowRun) -> WorkflowSpec:
        spec = await self.spec(session, run.workflow_id, run.workflow_version)
        return subgraph(spec, list(run.graph_path or []))

    async def lock(self, session: AsyncSession, run_id: str) -> WorkflowRun | None:
        stmt = select(WorkflowRun).where(WorkflowRun.id == run_id)
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        return (await session.scalars(stmt)).one_or_none()

    async def lock_with_rows(
        self, session: AsyncSession, run_id: str
    ) -> tuple[WorkflowRun | None, dict[str, NodeRun]]:
        """`lock` then `rows`. On SQLite (one writer at a time) in one round trip. Not so on
        PostgreSQL: a `FOR UPDATE OF workflow_runs` join that waited for the lock re-reads
        only the locked row, and would return node states from before the wait."""
        if not self.db.is_sqlite:
            return await self.lock(session, run_id), await self.rows(session, run_id)
        stmt = (
            select(WorkflowRun, NodeRun)
            .join(NodeRun, NodeRun.run_id == WorkflowRun.id)
            .where(WorkflowRun.id == run_id)
        )
        pairs = (await session.execute(stmt)).all()
        if not pairs:
            return await self.lock(session, run_id), {}
        return pairs[0][0], {r.node_id: r for _, r in pairs}

    @staticmethod
    async def rows(session: AsyncSession, run_id: str) -> dict[str, NodeRun]:
        result = await session.scalars(select(NodeRun).where(NodeRun.run_id == run_id))
        return {r.node_id: r for r in result.all()}

    async def after(self, progress: Progress) -> None:
        """Post-commit side effects. Losing them in a crash is harmless: runners poll for
        unannounced jobs, and a stale job finds its node finished and does nothing."""
        for channels, kind, data in progress.events:
            await self.events.publish_many(channels, kind, data)
        await self.jobs.announce(progress.staged)
        for job_id in progress.cancel_jobs:
            await self.jobs.store.request_cancel(job_id)

    def stage(
        self,
        session: AsyncSession,
        run: WorkflowRun,
        node_id: str,
        progress: Progress,
        delay: float = 0.0,
    ) -> str:
        staged = self.jobs.stage(
            session,
            NODE_JOB,
            {"run_id": run.id, "node_id": node_id},
            workspace_id=run.workspace_id,
            delay_seconds=max(0.0, delay),
        )
        progress.staged.append(staged)
        return staged.id

    # -- starting -------------------------------------------------------------------------

    async def start_in(self, session: AsyncSession, run: WorkflowRun, progress: Progress) -> None:
        """Create a new run's node states and schedule its first nodes, in the caller's
        transaction (the run row must be flushed)."""
        graph = await self.graph(session, run)
        rows = {}
        for node in graph.nodes:
            rows[node.id] = NodeRun(
                run_id=run.id,
                node_id=node.id,
                node_type=node.type,
                status=NodeStatus.PENDING.value,
                attempt=0,
            )
            session.add(rows[node.id])
        run.status = RunStatus.RUNNING.value
        run.started_at = utcnow()
        progress.run_event(run, "run.started", parent_run_id=run.parent_run_id)
        await session.flush()
        await settle(self, session, run, graph, rows, progress)

    # -- one node -------------------------------------------------------------------------

    async def run_node(
        self,
        run_id: str,
        node_id: str,
        *,
        job_id: str | None = None,
        continuation: Continuation | None = None,
    ) -> Continuation | None:
        """Execute one node (the `workflow.node` job). Re-delivery of a finished node does
        nothing; a node left `running` by a dead worker runs again (its attempt counts).
        Returns the next node this job adopted (`job_id`), if any."""
        if continuation is not None:
            run, rows, graph = continuation.run, continuation.rows, continuation.graph
            state = rows[node_id]
            maybe_node = graph.node(node_id)
            if maybe_node is None:
                return None
            node = maybe_node
            scope, incoming_outputs = self.node_scope(run, graph, rows, node_id)
            if run.parent_run_id:
                async with self.db.read() as session:
                    scope["nodes"] = await self.outer_nodes(session, run) | scope["nodes"]
            resuming, attempt, started_at = False, state.attempt, state.started_at
        else:
            loaded = await self._claim(run_id, node_id)
            if loaded is None:
                return None
            run, node, scope, incoming_outputs, resuming, attempt, started_at = loaded
        env = NodeEnv(
            run.id,
            node_id,
            run.workspace_id,
            run.user_id,
            run_inputs(run),
            self.services,
            incoming_outputs,
        )
        try:
            with node_span(run.id, node_id, node.type, attempt, pause=Paused):
                result = await self._execute(run, node, scope, env, resuming, started_at)
        except Paused:
            return None
        except NodeError as exc:
            error = {"type": "node_error", "message": str(exc)[:2000]}
            return await self._failed(run, node, attempt, error, job_id)
        except TimeoutError:
            message = f"timed out after {node.timeout_seconds:g} s"
            return await self._failed(
                run, node, attempt, {"type": "timeout", "message": message}, job_id
            )
        except Exception as exc:  # a tool or adapter bug fails the node, not the worker
            log.exception("workflow_node_error", run_id=run_id, node_id=node_id)
            error = {"type": "error", "message": repr(exc)[:2000]}
            return await self._failed(run, node, attempt, error, job_id)
        return await self.complete(run_id, node_id, NodeStatus.SUCCEEDED, result, job_id=job_id)

    async def _claim(self, run_id: str, node_id: str) -> tuple[Any, ...] | None:
        """Load a node's run and scope, and mark it running (attempt + 1) unless it resumes
        from waiting. None if there is nothing to do."""
        # Read without the writer lock, then claim the node with one conditional UPDATE: a
        # cancel or a duplicate delivery in between makes it match nothing.
        async with self.db.read() as session:
            pairs = (
                await session.execute(
                    select(WorkflowRun, NodeRun)
                    .join(NodeRun, NodeRun.run_id == WorkflowRun.id)
                    .where(WorkflowRun.id == run_id)
                )
            ).all()
            if not pairs or pairs[0][0].status in RUN_DONE:
                return None
            run = pairs[0][0]
            rows = {r.node_id: r for _, r in pairs}
            state = rows.get(node_id)
            if state is None or state.status not in RUNNABLE:
                return None
            graph = await self.graph(session, run)
            node = graph.node(node_id)
            if node is None:
                return None
            scope, incoming_outputs = self.node_scope(run, graph, rows, node_id)
            if run.parent_run_id:
                scope["nodes"] = await self.outer_nodes(session, run) | scope["nodes"]
        resuming = state.status == NodeStatus.WAITING.value
        attempt, started_at = state.attempt, state.started_at
        if not resuming:
            started_at = utcnow()
            claimed, _ = await self.db.execute_one(
                update(NodeRun)
                .where(
                    NodeRun.id == state.id,
                    NodeRun.status.in_([NodeStatus.READY.value, NodeStatus.RUNNING.value]),
                )
                .values(
                    status=NodeStatus.RUNNING.value,
                    attempt=NodeRun.attempt + 1,
                    started_at=started_at,
                    error=None,
                )
                .returning(NodeRun.attempt)
            )
            if not claimed:
                return None
            attempt = int(claimed[0][0])
            await self.events.publish(
                run_channel(run_id),
                "node.started",
                {"run_id": run_id, "node_id": node_id, "type": node.type, "attempt": attempt},
            )
        return run, node, scope, incoming_outputs, resuming, attempt, started_at

    async def adopted_by(self, job_id: str) -> list[tuple[str, str]]:
        """(run id, node id) of the unfinished nodes a job had taken on: a re-delivered job
        (its worker died) runs them again."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(NodeRun.run_id, NodeRun.node_id).where(
                    NodeRun.job_id == job_id,
                    NodeRun.status.in_([NodeStatus.READY.value, NodeStatus.RUNNING.value]),
                )
            )
            return [(r[0], r[1]) for r in rows.all()]

    async def fail_node(self, run_id: str, node_id: str, message: str) -> None:
        """The node's job itself failed for good (a bug or a lost database): fail the node
        through its policy rather than leave the run hanging."""
        async with self.db.read() as session:
            run = await session.get(WorkflowRun, run_id)
            graph = await self.graph(session, run) if run is not None else None
        node = graph.node(node_id) if graph is not None else None
        if run is not None and node is not None:
            error = {"type": "internal", "message": message[:2000]}
            await self._failed(run, node, node.retry.max_attempts, error)

    def node_scope(
        self, run: WorkflowRun, graph: WorkflowSpec, rows: dict[str, NodeRun], node_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        nodes = {
            r.node_id: {"output": r.output, "status": r.status, "branch": r.branch}
            for r in rows.values()
            if r.status in NODE_FINISHED
        }
        scope: dict[str, Any] = {"inputs": run_inputs(run), "nodes": nodes}
        if run.parent_run_id and isinstance(run.inputs, dict):
            scope["item"], scope["index"] = run.inputs.get("item"), run.inputs.get("index")
        incoming_outputs = {}
        for edge in incoming(graph).get(node_id, []):
            source = rows.get(edge.source)
            if (
                source is not None
                and edge_state(edge, {"status": source.status, "branch": source.branch}) == "active"
            ):
                incoming_outputs[edge.source] = source.output
        return scope, incoming_outputs

    async def outer_nodes(self, session: AsyncSession, run: WorkflowRun) -> dict[str, Any]:
        """Inside a map item, the finished nodes of the enclosing runs are in scope too (the
        innermost wins on a clash)."""
        nodes: dict[str, Any] = {}
        parent_id = run.parent_run_id
        while parent_id:
            parent = await session.get(WorkflowRun, parent_id)
            if parent is None:
                break
            for r in (await self.rows(session, parent_id)).values():
                if r.status in NODE_FINISHED and r.node_id not in nodes:
                    nodes[r.node_id] = {"output": r.output, "status": r.status, "branch": r.branch}
            parent_id = parent.parent_run_id
        return nodes

    async def _execute(
        self,
        run: WorkflowRun,
        node: Node,
        scope: dict[str, Any],
        env: NodeEnv,
        resuming: bool,
        started_at: datetime | None,
    ) -> NodeResult:
        if node.type == "wait":
            return await wait_node(self, run, node, scope, started_at)
        if node.type == "human_approval":
            return await approval_node(self, run, node, scope)
        if node.type == "map":
            return await map_node(self, run, node, scope)
        executor = EXECUTORS.get(node.type)
        if executor is None:
            raise NodeError(f"unknown node type {node.type!r}")
        if node.timeout_seconds:
            async with asyncio.timeout(node.timeout_seconds):
                result = await executor(node, scope, env)
        else:
            result = await executor(node, scope, env)
        check_json(result.output)
        check_json(result.input)
        return result

    async def complete(
        self,
        run_id: str,
        node_id: str,
        status: NodeStatus,
        result: NodeResult,
        error: dict[str, Any] | None = None,
        *,
        job_id: str | None = None,
    ) -> Continuation | None:
        """Record a node's outcome and settle the run, in one transaction. Returns the next
        node adopted by `job_id`, if any."""
        progress = Progress()
        async with self.db.transaction() as session:
            run, rows = await self.lock_with_rows(session, run_id)
            if run is None or run.status in RUN_DONE:
                return None
            row = rows.get(node_id)
            if row is None or row.status not in (
                NodeStatus.RUNNING,
                NodeStatus.WAITING,
                NodeStatus.READY,
            ):
                return None  # a duplicate delivery already recorded it
            now = utcnow()
            row.status, row.output, row.branch, row.error = (
                status.value,
                result.output,
                result.branch,
                error,
            )
            if result.input is not None:
                row.input = result.input
            row.finished_at = now
            row.wake_at = None
            if row.started_at is not None:
                row.duration_ms = round((now - row.started_at).total_seconds() * 1000, 3)
            kind = "node.succeeded" if status == NodeStatus.SUCCEEDED else "node.failed"
            progress.event(
                run_id,
                kind,
                node_id=node_id,
                branch=result.branch,
                output=result.output,
                error=error,
            )
            graph = await self.graph(session, run)
            if status == NodeStatus.FAILED and result.branch != ERROR_BRANCH:
                await close(
                    self,
                    session,
                    run,
                    graph,
                    rows,
                    RunStatus.FAILED,
                    {"node_id": node_id, **(error or {})},
                    progress,
                )
            else:
                await settle(self, session, run, graph, rows, progress, adopt_job=job_id)
        await self.after(progress)
        if progress.adopted is None or run.status in RUN_DONE:
            return None
        return Continuation(run, rows, graph, progress.adopted)

    async def _failed(
        self,
        run: WorkflowRun,
        node: Node,
        attempt: int,
        error: dict[str, Any],
        job_id: str | None = None,
    ) -> Continuation | None:
        """Retry within the node's policy; then fail the run, continue with the fallback, or
        take the error branch."""
        error = {**error, "attempt": attempt}
        if attempt < node.retry.max_attempts:
            delay = node.retry.backoff_seconds * 2 ** (attempt - 1)
            progress = Progress()
            async with self.db.transaction() as session:
                locked = await self.lock(session, run.id)
                row = await session.scalar(
                    select(NodeRun).where(NodeRun.run_id == run.id, NodeRun.node_id == node.id)
                )
                if (
                    locked is None
                    or locked.status in RUN_DONE
                    or row is None
                    or row.status != NodeStatus.RUNNING
                ):
                    return None
                row.status, row.error = NodeStatus.READY.value, error
                row.job_id = self.stage(session, run, node.id, progress, delay)
                progress.event(
                    run.id, "node.retrying", node_id=node.id, error=error, retry_in=delay
                )
            await self.after(progress)
            return None
        action = node.on_error.action
        if action == "continue":
            status, result = NodeStatus.SUCCEEDED, NodeResult(node.on_error.fallback)
        elif action == "route":
            status, result = NodeStatus.FAILED, NodeResult(None, ERROR_BRANCH)
        else:
            status, result = NodeStatus.FAILED, NodeResult(None)
        return await self.complete(run.id, node.id, status, result, error, job_id=job_id)

    async def cancel_in(self, session: AsyncSession, run: WorkflowRun, progress: Progress) -> None:
        run.cancel_requested = True
        if run.status not in RUN_DONE:
            await close(
                self,
                session,
                run,
                await self.graph(session, run),
                await self.rows(session, run.id),
                RunStatus.CANCELLED,
                None,
                progress,
            )

    async def resume_in(self, session: AsyncSession, run: WorkflowRun, progress: Progress) -> None:
        """Continue a failed run from its failed node(s): finished nodes keep their outputs,
        the failed node gets fresh attempts, the nodes cancelled by the failure wait again."""
        graph = await self.graph(session, run)
        rows = await self.rows(session, run.id)
        for row in rows.values():
            if row.status == NodeStatus.FAILED and row.branch != ERROR_BRANCH:
                row.status, row.error, row.attempt, row.finished_at = (
                    NodeStatus.READY.value,
                    None,
                    0,
                    None,
                )
                row.job_id = self.stage(session, run, row.node_id, progress)
                if row.node_type == "map":  # its failed items run again; succeeded ones stay
                    await session.execute(
                        delete(WorkflowRun).where(
                            WorkflowRun.parent_run_id == run.id,
                            WorkflowRun.parent_node_key == row.node_id,
                            WorkflowRun.status.in_(
                                [RunStatus.FAILED.value, RunStatus.CANCELLED.value]
                            ),
                        )
                    )
            elif row.status == NodeStatus.CANCELLED:
                row.status, row.finished_at = NodeStatus.PENDING.value, None
        run.status, run.error, run.finished_at, run.cancel_requested = (
            RunStatus.RUNNING.value,
            None,
            None,
            False,
        )
        progress.run_event(run, "run.resumed")
        await settle(self, session, run, graph, rows, progress)

    def wake_in(
        self, session: AsyncSession, run: WorkflowRun, node_id: str, progress: Progress
    ) -> None:
        """Schedule a waiting node to look again (an approval was decided)."""
        self.stage(session, run, node_id, progress)
