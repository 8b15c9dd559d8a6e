"""Executing agents and reading runs: sync, background (a job) and streaming (SSE),
Idempotency-Key, cancellation. The agent loop itself lives in runtime.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from codexos_server.agents.models import RUN_FINISHED, Agent, Conversation, Run, RunStatus, RunStep
from codexos_server.agents.runtime import AgentRuntime, load_snapshot, run_channel
from codexos_server.agents.schemas import ExecuteRequest, RunDetail, RunOut, StepOut
from codexos_server.agents.service import AgentService
from codexos_server.auth.principal import Principal
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound
from codexos_server.events.bus import Event, EventBus, workspace_channel
from codexos_server.events.follow import follow
from codexos_server.idempotency import request_hash as make_request_hash
from codexos_server.jobs.service import JobService
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.workspaces.permissions import Action

AGENT_RUN_JOB = "agent.run"


@dataclass(frozen=True, slots=True)
class Created:
    out: RunOut
    created: bool
    run: Run | None = None  # the ORM row, when claimed for this process
    snapshot: dict[str, Any] | None = None


TERMINAL_EVENTS = frozenset(f"run.{s.value}" for s in RUN_FINISHED)


class RunService:
    def __init__(
        self,
        db: Database,
        events: EventBus,
        jobs: JobService,
        agents: AgentService,
        runtime: AgentRuntime,
    ) -> None:
        self.db = db
        self.events = events
        self.jobs = jobs
        self.agents = agents
        self.runtime = runtime

    async def create(
        self,
        actor: Principal,
        agent_id: str,
        body: ExecuteRequest,
        *,
        mode: str,
        idempotency_key: str | None = None,
        depth: int = 0,
        parent_run_id: str | None = None,
        claim: bool = False,
    ) -> Created:
        """Record a run of the agent's current version: queued, or with `claim` already
        running in this process (then the agent version's snapshot comes with it, from the
        same transaction). With an Idempotency-Key already used for the same request, the
        earlier run and `created=False`.

        Raises: NotFound (agent or conversation), Conflict (key reused for another request),
        PaymentRequired (a paid-per-run agent and a wallet that cannot pay for a run),
        RateLimitExceeded (a budget covering the run is used up).
        """
        actor.require(Action.EXECUTE)
        request_hash = make_request_hash(agent_id, body.model_dump(mode="json", by_alias=True))
        if idempotency_key:
            existing = await self._by_key(actor, idempotency_key, request_hash)
            if existing is not None:
                return Created(existing, False)
        try:
            async with self.db.transaction() as session:
                agent = await self.agents.load(session, actor, agent_id)
                if self.runtime.budgets is not None:
                    await self.runtime.budgets.check(
                        session, actor.workspace_id, agent.id, actor.api_key_id
                    )
                if self.runtime.charges is not None:
                    await self.runtime.charges.check(session, actor.workspace_id, agent.id)
                if body.conversation_id:
                    conversation = await session.scalar(
                        select(Conversation.id).where(
                            Conversation.id == body.conversation_id,
                            Conversation.agent_id == agent.id,
                            Conversation.workspace_id == actor.workspace_id,
                        )
                    )
                    if conversation is None:
                        raise NotFound("conversation", body.conversation_id)
                run = Run(
                    workspace_id=actor.workspace_id,
                    agent_id=agent.id,
                    agent_version=agent.version,
                    conversation_id=body.conversation_id,
                    user_id=actor.user_id,
                    api_key_id=actor.api_key_id,
                    parent_run_id=parent_run_id,
                    depth=depth,
                    mode=mode,
                    status=(RunStatus.RUNNING if claim else RunStatus.QUEUED).value,
                    started_at=utcnow() if claim else None,
                    input=body.input_data,
                    variables=body.variables,
                    usage={},
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                )
                session.add(run)
                await session.flush()
                snapshot = await load_snapshot(session, run) if claim else None
                out = RunOut.model_validate(run)
        except IntegrityError:
            existing = await self._by_key(actor, idempotency_key or "", request_hash)
            if existing is None:
                raise
            return Created(existing, False)
        return Created(out, True, run if claim else None, snapshot)

    async def _by_key(self, actor: Principal, key: str, request_hash: str) -> RunOut | None:
        async with self.db.read() as session:
            run = await session.scalar(
                select(Run).where(
                    Run.workspace_id == actor.workspace_id, Run.idempotency_key == key
                )
            )
        if run is None:
            return None
        if run.request_hash != request_hash:
            raise Conflict("This Idempotency-Key was already used for a different request")
        return RunOut.model_validate(run)

    def cancel_check(self, run_id: str) -> Any:
        async def cancelled() -> bool:
            async with self.db.read_connection() as conn:
                return bool(
                    (
                        await conn.execute(select(Run.cancel_requested).where(Run.id == run_id))
                    ).scalar()
                )

        return cancelled

    async def execute(
        self,
        actor: Principal,
        agent_id: str,
        body: ExecuteRequest,
        idempotency_key: str | None = None,
    ) -> RunOut:
        """Run the agent now and return the finished run."""
        made = await self.create(
            actor, agent_id, body, mode="sync", idempotency_key=idempotency_key, claim=True
        )
        return await self._run_claimed(made, emit_tokens=False)

    async def _run_claimed(self, made: Created, *, emit_tokens: bool) -> RunOut:
        if made.run is None or made.snapshot is None:  # an idempotent replay
            return made.out
        finished = await self.runtime.run(
            made.run,
            made.snapshot,
            emit_tokens=emit_tokens,
            is_cancelled=self.cancel_check(made.run.id),
        )
        return RunOut.model_validate(finished)

    async def run_child(
        self,
        *,
        workspace_id: str,
        user_id: str | None,
        agent_id: str,
        input_data: str,
        parent_run_id: str | None,
        depth: int,
    ) -> RunOut:
        """Run an agent of the workspace for a parent agent run (the `agent_call` tool) or a
        workflow's `agent` node (no parent agent run).

        Raises: NotFound if the agent is not in the workspace.
        """
        async with self.db.transaction() as session:
            agent = await session.scalar(
                select(Agent).where(Agent.id == agent_id, Agent.workspace_id == workspace_id)
            )
            if agent is None:
                raise NotFound("agent", agent_id)
            run = Run(
                workspace_id=workspace_id,
                agent_id=agent.id,
                agent_version=agent.version,
                user_id=user_id,
                parent_run_id=parent_run_id,
                depth=depth,
                mode="sync",
                status=RunStatus.RUNNING.value,
                started_at=utcnow(),
                input=input_data,
                variables={},
                usage={},
            )
            session.add(run)
            await session.flush()
            snapshot = await load_snapshot(session, run)
        return await self._run_claimed(
            Created(RunOut.model_validate(run), True, run, snapshot), emit_tokens=False
        )

    async def submit(
        self,
        actor: Principal,
        agent_id: str,
        body: ExecuteRequest,
        idempotency_key: str | None = None,
    ) -> RunOut:
        """Queue the run as a background job and return it at once."""
        made = await self.create(
            actor, agent_id, body, mode="async", idempotency_key=idempotency_key
        )
        if made.created:
            job = await self.jobs.enqueue(
                actor, AGENT_RUN_JOB, {"run_id": made.out.id}, idempotency_key=f"run:{made.out.id}"
            )
            async with self.db.transaction() as session:
                await session.execute(
                    update(Run).where(Run.id == made.out.id).values(job_id=job.id)
                )
        return await self._out(actor, made.out.id)

    async def stream(
        self,
        actor: Principal,
        agent_id: str,
        body: ExecuteRequest,
        idempotency_key: str | None = None,
    ) -> AsyncIterator[Event]:
        """Run the agent in this process and yield its events (tokens, tool calls, status)
        until it ends. A client that goes away cancels the run."""
        made = await self.create(
            actor, agent_id, body, mode="stream", idempotency_key=idempotency_key, claim=True
        )
        subscription = await self.events.subscribe(run_channel(made.out.id), after_seq=0)
        task = None
        if made.run is not None:
            task = asyncio.create_task(self._run_claimed(made, emit_tokens=True))
        return self._relay(subscription, task)

    async def _relay(
        self, subscription: Any, task: asyncio.Task[RunOut] | None
    ) -> AsyncIterator[Event]:
        ended = False
        try:
            async for event in subscription:
                yield event
                if event.type in TERMINAL_EVENTS:
                    ended = True
                    break
        finally:
            await subscription.close()
            if task is not None and not task.done():
                # The final event is published before the run's turn is saved to its
                # conversation: let an ended run finish that; stop one the client left.
                if not ended:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def events_of(
        self, actor: Principal, run_id: str, after_seq: int
    ) -> AsyncIterator[Event]:
        """Follow a run's events (replaying those after `after_seq`) until it ends."""
        actor.require(Action.READ)
        run = await self._out(actor, run_id)
        return await follow(
            self.events,
            run_channel(run_id),
            after_seq,
            finished=run.status in RUN_FINISHED,
            terminal=TERMINAL_EVENTS,
        )

    async def _out(self, actor: Principal, run_id: str) -> RunOut:
        async with self.db.read() as session:
            run = await session.scalar(
                select(Run).where(Run.id == run_id, Run.workspace_id == actor.workspace_id)
            )
            if run is None:
                raise NotFound("run", run_id)
            return RunOut.model_validate(run)

    async def get(self, actor: Principal, run_id: str) -> RunDetail:
        actor.require(Action.READ)
        async with self.db.read() as session:
            run = await session.scalar(
                select(Run).where(Run.id == run_id, Run.workspace_id == actor.workspace_id)
            )
            if run is None:
                raise NotFound("run", run_id)
            steps = (
                await session.scalars(
                    select(RunStep).where(RunStep.run_id == run_id).order_by(RunStep.position)
                )
            ).all()
            return RunDetail(
                **RunOut.model_validate(run).model_dump(),
                steps=[StepOut.model_validate(s) for s in steps],
            )

    async def list(
        self,
        actor: Principal,
        params: PageParams,
        *,
        agent_id: str | None = None,
        status: RunStatus | None = None,
        conversation_id: str | None = None,
    ) -> Page[RunOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            stmt = select(Run).where(Run.workspace_id == actor.workspace_id)
            if agent_id:
                stmt = stmt.where(Run.agent_id == agent_id)
            if status:
                stmt = stmt.where(Run.status == status.value)
            if conversation_id:
                stmt = stmt.where(Run.conversation_id == conversation_id)
            rows, cursor = await paginate(session, stmt, params, Run.created_at, Run.id)
            return Page(items=[RunOut.model_validate(r[0]) for r in rows], next_cursor=cursor)

    async def cancel(self, actor: Principal, run_id: str) -> RunOut:
        """Stop a run: a queued one at once, a running one between its steps."""
        actor.require(Action.EXECUTE)
        run = await self._out(actor, run_id)
        if run.status in RUN_FINISHED:
            return run
        async with self.db.transaction() as session:
            await session.execute(update(Run).where(Run.id == run_id).values(cancel_requested=True))
            queued = await session.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == RunStatus.QUEUED.value)
                .values(status=RunStatus.CANCELLED.value)
            )
        if run.job_id:
            await self.jobs.cancel(actor, run.job_id)
        if queued.rowcount:  # type: ignore[attr-defined]
            await self.events.publish_many(
                [run_channel(run_id), workspace_channel(actor.workspace_id)],
                "run.cancelled",
                {"run_id": run_id, "status": "cancelled"},
            )
        return await self._out(actor, run_id)
