"""Workflow runs: start (by API with an Idempotency-Key, by a schedule or a webhook), list,
inspect, cancel, resume, re-run, decide approvals, follow events. The engine does the work."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound, ValidationFailed
from codexos_server.events.bus import Event
from codexos_server.events.follow import follow
from codexos_server.idempotency import request_hash as make_request_hash
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.workflows.engine import Engine
from codexos_server.workflows.models import (
    Approval,
    NodeRun,
    RunStatus,
    Workflow,
    WorkflowRun,
)
from codexos_server.workflows.schemas import (
    ApprovalOut,
    NodeRunOut,
    WorkflowRunDetail,
    WorkflowRunOut,
)
from codexos_server.workflows.service import WorkflowService
from codexos_server.workflows.spec import WorkflowSpec
from codexos_server.workflows.state import RUN_DONE, Progress, run_channel
from codexos_server.workspaces.permissions import Action

TERMINAL_EVENTS = frozenset(f"run.{s}" for s in RUN_DONE)


def check_inputs(spec: WorkflowSpec, inputs: Any) -> None:
    """Refuse inputs that the workflow's `input` node schema rejects, before any run exists.

    Raises: ValidationFailed with one entry per problem."""
    for node in spec.nodes:
        schema = node.config.get("schema") if node.type == "input" else None
        if not schema:
            continue
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(inputs), key=lambda e: list(e.path)
        )
        if errors:
            raise ValidationFailed(
                "The inputs do not match the workflow's input schema",
                [
                    {"field": "inputs." + ".".join(str(p) for p in e.path), "message": e.message}
                    for e in errors[:20]
                ],
            )


class WorkflowRunService:
    def __init__(self, db: Database, engine: Engine, workflows: WorkflowService) -> None:
        self.db = db
        self.engine = engine
        self.workflows = workflows

    # -- starting -----------------------------------------------------------------------

    async def start(
        self,
        actor: Principal,
        workflow_id: str,
        inputs: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> tuple[WorkflowRunOut, bool]:
        """Start a run of the workflow's current version. With an Idempotency-Key already used
        for the same request: the earlier run and False.

        Raises: NotFound, ValidationFailed (inputs), Conflict (key reused for another request).
        """
        actor.require(Action.EXECUTE)
        request_hash = make_request_hash(workflow_id, inputs)
        if idempotency_key:
            existing = await self._by_key(actor.workspace_id, idempotency_key, request_hash)
            if existing is not None:
                return existing, False
        progress = Progress()
        try:
            async with self.db.transaction() as session:
                workflow = await self.workflows.load(session, actor.workspace_id, workflow_id)
                run = await self.start_in(
                    session,
                    workflow,
                    inputs,
                    "api",
                    actor.user_id,
                    progress,
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                )
                out = WorkflowRunOut.model_validate(run)
        except IntegrityError:
            existing = await self._by_key(actor.workspace_id, idempotency_key or "", request_hash)
            if existing is None:
                raise
            return existing, False
        await self.engine.after(progress)
        return out, True

    async def start_in(
        self,
        session: AsyncSession,
        workflow: Workflow,
        inputs: Any,
        trigger: str,
        user_id: str | None,
        progress: Progress,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        rerun_of: str | None = None,
    ) -> WorkflowRun:
        """Create and start a run in the caller's transaction (schedules and hooks record
        their firing in the same one). Call `engine.after(progress)` after the commit."""
        run_version = version or workflow.version
        check_inputs(await self.engine.spec(session, workflow.id, run_version), inputs)
        run = WorkflowRun(
            workspace_id=workflow.workspace_id,
            workflow_id=workflow.id,
            workflow_version=run_version,
            user_id=user_id,
            graph_path=[],
            trigger=trigger,
            status=RunStatus.QUEUED.value,
            inputs=inputs,
            cancel_requested=False,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            rerun_of=rerun_of,
        )
        session.add(run)
        await session.flush()
        await self.engine.start_in(session, run, progress)
        return run

    async def _by_key(
        self, workspace_id: str, key: str, request_hash: str
    ) -> WorkflowRunOut | None:
        async with self.db.read() as session:
            run = await session.scalar(
                select(WorkflowRun).where(
                    WorkflowRun.workspace_id == workspace_id, WorkflowRun.idempotency_key == key
                )
            )
        if run is None:
            return None
        if run.request_hash != request_hash:
            raise Conflict("This Idempotency-Key was already used for a different request")
        return WorkflowRunOut.model_validate(run)

    # -- reading --------------------------------------------------------------------------

    async def _load(
        self, session: AsyncSession, actor: Principal, run_id: str, *, lock: bool = False
    ) -> WorkflowRun:
        stmt = select(WorkflowRun).where(
            WorkflowRun.id == run_id, WorkflowRun.workspace_id == actor.workspace_id
        )
        if lock and not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        run = await session.scalar(stmt)
        if run is None:
            raise NotFound("workflow run", run_id)
        return run

    async def list(
        self,
        actor: Principal,
        params: PageParams,
        *,
        workflow_id: str | None = None,
        status: RunStatus | None = None,
        trigger: str | None = None,
        parent_run_id: str | None = None,
    ) -> Page[WorkflowRunOut]:
        """Top-level runs by default; `parent_run_id` lists a run's map items."""
        actor.require(Action.READ)
        stmt = select(WorkflowRun).where(WorkflowRun.workspace_id == actor.workspace_id)
        stmt = stmt.where(
            WorkflowRun.parent_run_id == parent_run_id
            if parent_run_id
            else WorkflowRun.parent_run_id.is_(None)
        )
        if workflow_id:
            stmt = stmt.where(WorkflowRun.workflow_id == workflow_id)
        if status:
            stmt = stmt.where(WorkflowRun.status == status.value)
        if trigger:
            stmt = stmt.where(WorkflowRun.trigger == trigger)
        async with self.db.read() as session:
            rows, cursor = await paginate(
                session, stmt, params, WorkflowRun.created_at, WorkflowRun.id
            )
            return Page(
                items=[WorkflowRunOut.model_validate(r[0]) for r in rows], next_cursor=cursor
            )

    async def get(self, actor: Principal, run_id: str) -> WorkflowRunDetail:
        actor.require(Action.READ)
        async with self.db.read() as session:
            run = await self._load(session, actor, run_id)
            graph = await self.engine.graph(session, run)
            order = {n.id: i for i, n in enumerate(graph.nodes)}
            nodes = sorted(
                (await session.scalars(select(NodeRun).where(NodeRun.run_id == run_id))).all(),
                key=lambda r: order.get(r.node_id, len(order)),
            )
            approvals = (
                await session.scalars(select(Approval).where(Approval.run_id == run_id))
            ).all()
            return WorkflowRunDetail(
                **WorkflowRunOut.model_validate(run).model_dump(),
                nodes=[NodeRunOut.model_validate(n) for n in nodes],
                approvals=[ApprovalOut.model_validate(a) for a in approvals],
            )

    async def events_of(
        self, actor: Principal, run_id: str, after_seq: int
    ) -> AsyncIterator[Event]:
        """Follow a run's events (replaying those after `after_seq`) until it ends."""
        actor.require(Action.READ)
        async with self.db.read() as session:
            run = await self._load(session, actor, run_id)
            finished = run.status in RUN_DONE
        return await follow(
            self.engine.events,
            run_channel(run_id),
            after_seq,
            finished=finished,
            terminal=TERMINAL_EVENTS,
        )

    # -- changing ---------------------------------------------------------------------------

    async def cancel(self, actor: Principal, run_id: str) -> WorkflowRunOut:
        """Cancel a run and its map items; nodes in flight stop (their jobs are cancelled).
        Cancelling a finished run changes nothing."""
        actor.require(Action.EXECUTE)
        progress = Progress()
        async with self.db.transaction() as session:
            run = await self._load(session, actor, run_id, lock=True)
            if run.status not in RUN_DONE:
                await self.engine.cancel_in(session, run, progress)
            out = WorkflowRunOut.model_validate(run)
        await self.engine.after(progress)
        return out

    async def resume(self, actor: Principal, run_id: str) -> WorkflowRunOut:
        """Continue a failed run from the node that failed. Raises: Conflict if not failed."""
        actor.require(Action.EXECUTE)
        progress = Progress()
        async with self.db.transaction() as session:
            run = await self._load(session, actor, run_id, lock=True)
            if run.status != RunStatus.FAILED or run.parent_run_id:
                raise Conflict(f"Only a failed run can be resumed; this one is {run.status}")
            await self.engine.resume_in(session, run, progress)
            out = WorkflowRunOut.model_validate(run)
        await self.engine.after(progress)
        return out

    async def rerun(self, actor: Principal, run_id: str) -> WorkflowRunOut:
        """A new run of the same workflow version with the same inputs."""
        actor.require(Action.EXECUTE)
        progress = Progress()
        async with self.db.transaction() as session:
            old = await self._load(session, actor, run_id)
            if old.parent_run_id:
                raise Conflict("A map item cannot be re-run on its own; re-run its parent run")
            workflow = await self.workflows.load(session, actor.workspace_id, old.workflow_id)
            run = await self.start_in(
                session,
                workflow,
                old.inputs,
                "rerun",
                actor.user_id,
                progress,
                version=old.workflow_version,
                rerun_of=old.id,
            )
            out = WorkflowRunOut.model_validate(run)
        await self.engine.after(progress)
        return out

    async def pending_approvals(self, actor: Principal, params: PageParams) -> Page[ApprovalOut]:
        actor.require(Action.READ)
        stmt = select(Approval).where(
            Approval.workspace_id == actor.workspace_id, Approval.status == "pending"
        )
        async with self.db.read() as session:
            rows, cursor = await paginate(session, stmt, params, Approval.created_at, Approval.id)
            return Page(items=[ApprovalOut.model_validate(r[0]) for r in rows], next_cursor=cursor)

    async def decide(
        self, actor: Principal, run_id: str, node_id: str, approve: bool, comment: str | None
    ) -> ApprovalOut:
        """Approve or reject a pending approval; the run continues on that branch.

        Raises: NotFound, Conflict (already decided or timed out)."""
        actor.require(Action.EXECUTE)
        progress = Progress()
        async with self.db.transaction() as session:
            run = await self._load(session, actor, run_id, lock=True)
            approval = await session.scalar(
                select(Approval).where(Approval.run_id == run_id, Approval.node_id == node_id)
            )
            if approval is None:
                raise NotFound("approval", node_id)
            if approval.status != "pending" or run.status in RUN_DONE:
                raise Conflict(f"This approval is already {approval.status}")
            if approval.expires_at is not None and approval.expires_at <= utcnow():
                raise Conflict("This approval timed out; its default outcome applies")
            approval.status = "approved" if approve else "rejected"
            approval.decided_by = actor.user_id
            approval.comment = comment
            approval.decided_at = utcnow()
            self.engine.wake_in(session, run, node_id, progress)
            progress.event(run_id, "approval.decided", node_id=node_id, status=approval.status)
            await session.flush()
            out = ApprovalOut.model_validate(approval)
        await self.engine.after(progress)
        return out

    async def node_runs(self, run_id: str) -> builtins.list[NodeRunOut]:
        """Node states of a run, without an ownership check (for trusted callers: tests,
        the CLI and benchmarks)."""
        async with self.db.read() as session:
            rows = (await session.scalars(select(NodeRun).where(NodeRun.run_id == run_id))).all()
            return [NodeRunOut.model_validate(r) for r in rows]
