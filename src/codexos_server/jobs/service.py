"""Enqueue, read and cancel jobs; the queue adapter is told when a job is ready."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.db.base import new_id, utcnow
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound, ValidationFailed
from codexos_server.events.bus import EventBus
from codexos_server.idempotency import request_hash as make_request_hash
from codexos_server.jobs.events import CANCEL_CHANNEL, publish_job_event
from codexos_server.jobs.models import Job, JobStatus
from codexos_server.jobs.registry import JOB_KINDS
from codexos_server.jobs.schemas import JobOut
from codexos_server.jobs.store import JobStore
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.workspaces.permissions import Action


class JobQueue(Protocol):
    """Delivers "job X is ready" to whoever runs jobs (port; adapters in jobs/queues.py)."""

    async def start(self) -> None: ...

    async def notify(self, job_id: str) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StagedJob:
    id: str
    kind: str
    workspace_id: str | None
    delayed: bool


class JobService:
    def __init__(self, db: Database, store: JobStore, events: EventBus, queue: JobQueue) -> None:
        self.db = db
        self.store = store
        self.events = events
        self.queue = queue

    async def enqueue(
        self,
        actor: Principal | None,
        kind: str,
        payload: dict[str, Any],
        *,
        workspace_id: str | None = None,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        delay_seconds: float = 0.0,
    ) -> JobOut:
        """Create a job in the actor's workspace (or `workspace_id` for system work).

        The same idempotency key with the same kind and payload returns the existing job.
        Raises: ValidationFailed (unknown kind), Conflict (key reused for other work).
        """
        spec = JOB_KINDS.get(kind)
        if spec is None:
            raise ValidationFailed(
                "Unknown job kind", [{"field": "kind", "message": f"no handler for {kind!r}"}]
            )
        workspace = actor.workspace_id if actor else workspace_id
        request_hash = make_request_hash(kind, payload)
        if idempotency_key:
            existing = await self._by_key(workspace, idempotency_key)
            if existing is not None:
                return self._same_request(existing, request_hash)
        values = {
            "kind": kind,
            "payload": payload,
            "workspace_id": workspace,
            "user_id": actor.user_id if actor else None,
            "status": JobStatus.QUEUED.value,
            "max_attempts": max_attempts or spec.max_attempts,
            "run_after": utcnow() + timedelta(seconds=delay_seconds),
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
        }
        try:
            # Core, not the ORM: enqueueing is a hot path and this is one INSERT … RETURNING.
            rows, _ = await self.db.execute_one(
                insert(Job).values(values).returning(*Job.__table__.c)
            )
            out = JobOut.model_validate(rows[0]._mapping)
        except IntegrityError:
            existing = await self._by_key(workspace, idempotency_key or "")
            if existing is None:
                raise
            return self._same_request(existing, request_hash)
        await publish_job_event(self.events, out.id, workspace, "job.queued", {"kind": kind})
        if delay_seconds <= 0:
            await self.queue.notify(out.id)
        return out

    @staticmethod
    def stage(
        session: AsyncSession,
        kind: str,
        payload: dict[str, Any],
        *,
        workspace_id: str | None,
        delay_seconds: float = 0.0,
    ) -> StagedJob:
        """Add a job to the caller's transaction, so that it exists exactly when the caller's
        own writes commit (a transactional outbox: a crash cannot keep one without the other).
        Call `announce` after the commit. Runners also find unannounced jobs by polling."""
        spec = JOB_KINDS[kind]
        job_id = new_id()
        session.add(
            Job(
                id=job_id,
                kind=kind,
                payload=payload,
                workspace_id=workspace_id,
                status=JobStatus.QUEUED.value,
                max_attempts=spec.max_attempts,
                run_after=utcnow() + timedelta(seconds=delay_seconds),
                request_hash=make_request_hash(kind, payload),
            )
        )
        return StagedJob(job_id, kind, workspace_id, delay_seconds > 0)

    async def announce(self, staged: Iterable[StagedJob]) -> None:
        """Tell the queue about committed staged jobs (delayed ones wait for the poll)."""
        for job in staged:
            await publish_job_event(
                self.events, job.id, job.workspace_id, "job.queued", {"kind": job.kind}
            )
            if not job.delayed:
                await self.queue.notify(job.id)

    async def _by_key(self, workspace_id: str | None, key: str) -> Job | None:
        async with self.db.read() as session:
            return await session.scalar(
                select(Job).where(Job.workspace_id == workspace_id, Job.idempotency_key == key)
            )

    @staticmethod
    def _same_request(existing: Job, request_hash: str) -> JobOut:
        if existing.request_hash != request_hash:
            raise Conflict("This Idempotency-Key was already used for a different request")
        return JobOut.model_validate(existing)

    async def get(self, actor: Principal, job_id: str) -> JobOut:
        """Raises: NotFound for a job outside the actor's workspace."""
        actor.require(Action.READ)
        async with self.db.read() as session:
            job = await session.scalar(
                select(Job).where(Job.id == job_id, Job.workspace_id == actor.workspace_id)
            )
            if job is None:
                raise NotFound("job", job_id)
            return JobOut.model_validate(job)

    async def list(
        self,
        actor: Principal,
        params: PageParams,
        status: JobStatus | None = None,
        kind: str | None = None,
    ) -> Page[JobOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            stmt = select(Job).where(Job.workspace_id == actor.workspace_id)
            if status is not None:
                stmt = stmt.where(Job.status == status.value)
            if kind is not None:
                stmt = stmt.where(Job.kind == kind)
            rows, cursor = await paginate(session, stmt, params, Job.created_at, Job.id)
            return Page(items=[JobOut.model_validate(r[0]) for r in rows], next_cursor=cursor)

    async def cancel(self, actor: Principal, job_id: str) -> JobOut:
        """Cancel a queued job at once; ask a running one to stop (its handler sees it
        between steps). Cancelling a finished job changes nothing."""
        actor.require(Action.EXECUTE)
        await self.get(actor, job_id)
        status = await self.store.request_cancel(job_id)
        if status is JobStatus.CANCELLED:
            await publish_job_event(self.events, job_id, actor.workspace_id, "job.cancelled", {})
        elif status is JobStatus.RUNNING:
            await self.events.publish(CANCEL_CHANNEL, "job.cancel_requested", {"job_id": job_id})
        return await self.get(actor, job_id)
