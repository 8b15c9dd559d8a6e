"""Job state transitions, each one guarded SQL statement.

Every transition names the state it expects (and, for a running job, the lease owner), so a
worker whose lease expired and was taken over can never overwrite the new owner's work.
On PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED`; on SQLite the write transaction
(`BEGIN IMMEDIATE`) already serialises claimers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.sql.elements import ColumnElement

from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.jobs.models import Job, JobStatus


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    workspace_id: str | None
    user_id: str | None


_CLAIMED_COLUMNS = (
    Job.id,
    Job.kind,
    Job.payload,
    Job.attempt,
    Job.max_attempts,
    Job.workspace_id,
    Job.user_id,
)


@dataclass(frozen=True, slots=True)
class Reaped:
    requeued: list[str]
    failed: list[tuple[str, str | None]]  # (job id, workspace id)
    cancelled: list[tuple[str, str | None]]


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(
        self, worker: str, lease_seconds: float, kinds: Collection[str], job_id: str | None = None
    ) -> ClaimedJob | None:
        """Take one due, queued job (this one, or the oldest due) with a lease."""
        if not kinds:
            return None
        now = utcnow()
        due: list[ColumnElement[bool]] = [
            Job.status == JobStatus.QUEUED.value,
            Job.run_after <= now,
            Job.kind.in_(list(kinds)),
        ]
        if job_id is not None:
            target: ColumnElement[bool] = Job.id == job_id
        else:
            oldest = select(Job.id).where(*due).order_by(Job.run_after).limit(1)
            if not self.db.is_sqlite:
                oldest = oldest.with_for_update(skip_locked=True)
            target = Job.id == oldest.scalar_subquery()
        stmt = (
            update(Job)
            .where(target, *due)
            .values(
                status=JobStatus.RUNNING.value,
                lease_owner=worker,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempt=Job.attempt + 1,
                started_at=now,
            )
            .returning(*_CLAIMED_COLUMNS)
        )
        async with self.db.transaction() as session:
            row = (await session.execute(stmt)).first()
        return ClaimedJob(*row) if row else None

    def _owned(self, job_id: str, worker: str) -> tuple[ColumnElement[bool], ...]:
        return (Job.id == job_id, Job.lease_owner == worker, Job.status == JobStatus.RUNNING.value)

    async def heartbeat(self, job_id: str, worker: str, lease_seconds: float) -> bool | None:
        """Extend the lease. Returns whether cancellation was requested, or None if the
        lease was lost (the job was reaped and perhaps claimed by another worker)."""
        stmt = (
            update(Job)
            .where(*self._owned(job_id, worker))
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            .returning(Job.cancel_requested)
        )
        async with self.db.transaction() as session:
            row = (await session.execute(stmt)).first()
        return None if row is None else bool(row[0])

    async def progress(self, job_id: str, worker: str, data: dict[str, Any]) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(Job).where(*self._owned(job_id, worker)).values(progress=data)
            )

    async def finish(
        self,
        job_id: str,
        worker: str,
        status: JobStatus,
        *,
        result: Any = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Record a final state. False if this worker no longer holds the lease."""
        stmt = (
            update(Job)
            .where(*self._owned(job_id, worker))
            .values(
                status=status.value,
                result=result,
                error=error,
                lease_owner=None,
                lease_expires_at=None,
                finished_at=utcnow(),
            )
        )
        async with self.db.transaction() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def retry_later(
        self, job_id: str, worker: str, error: dict[str, Any], run_after: datetime
    ) -> bool:
        """Put a failed attempt back in the queue, due at `run_after`."""
        stmt = (
            update(Job)
            .where(*self._owned(job_id, worker))
            .values(
                status=JobStatus.QUEUED.value,
                error=error,
                run_after=run_after,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        async with self.db.transaction() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def release(self, job_id: str, worker: str) -> bool:
        """Give a job back untouched (the runner is shutting down): the attempt is not counted."""
        stmt = (
            update(Job)
            .where(*self._owned(job_id, worker))
            .values(
                status=JobStatus.QUEUED.value,
                attempt=Job.attempt - 1,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        async with self.db.transaction() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def reap(self) -> Reaped:
        """Jobs whose lease expired (their worker died): cancelled if that was asked, failed
        if they are out of attempts, otherwise queued again at once."""
        now = utcnow()
        expired = (Job.status == JobStatus.RUNNING.value, Job.lease_expires_at < now)
        cleared = {"lease_owner": None, "lease_expires_at": None}
        async with self.db.transaction() as session:
            cancelled = await session.execute(
                update(Job)
                .where(*expired, Job.cancel_requested.is_(True))
                .values(status=JobStatus.CANCELLED.value, finished_at=now, **cleared)
                .returning(Job.id, Job.workspace_id)
            )
            cancelled_rows = [(r[0], r[1]) for r in cancelled]
            failed = await session.execute(
                update(Job)
                .where(*expired, Job.attempt >= Job.max_attempts)
                .values(
                    status=JobStatus.FAILED.value,
                    finished_at=now,
                    error={
                        "type": "WorkerLost",
                        "message": "the worker running the job stopped responding",
                    },
                    **cleared,
                )
                .returning(Job.id, Job.workspace_id)
            )
            failed_rows = [(r[0], r[1]) for r in failed]
            requeued = await session.execute(
                update(Job)
                .where(*expired)
                .values(status=JobStatus.QUEUED.value, run_after=now, **cleared)
                .returning(Job.id)
            )
            requeued_ids = [r[0] for r in requeued]
        return Reaped(requeued_ids, failed_rows, cancelled_rows)

    async def request_cancel(self, job_id: str) -> JobStatus | None:
        """Cancel a queued job at once, or flag a running one for its handler to see.
        Returns the job's status afterwards, None if it was already finished."""
        now = utcnow()
        async with self.db.transaction() as session:
            queued = await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.QUEUED.value)
                .values(status=JobStatus.CANCELLED.value, cancel_requested=True, finished_at=now)
            )
            if queued.rowcount:  # type: ignore[attr-defined]
                return JobStatus.CANCELLED
            running = await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.RUNNING.value)
                .values(cancel_requested=True)
            )
            if running.rowcount:  # type: ignore[attr-defined]
                return JobStatus.RUNNING
        return None
