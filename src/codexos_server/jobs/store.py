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
        self, worker: str, lease_seconds: float, kinds: Collection[str], limit: int = 1
    ) -> list[ClaimedJob]:
        """Take up to `limit` due, queued jobs (oldest first) with a lease."""
        if not kinds or limit < 1:
            return []
        now = utcnow()
        due: list[ColumnElement[bool]] = [
            Job.status == JobStatus.QUEUED.value,
            Job.run_after <= now,
            Job.kind.in_(list(kinds)),
        ]
        # A cheap read first: most polls find nothing, and need not take the write lock.
        async with self.db.read_connection() as conn:
            if (await conn.execute(select(Job.id).where(*due).limit(1))).first() is None:
                return []
        oldest = select(Job.id).where(*due).order_by(Job.run_after).limit(limit)
        if not self.db.is_sqlite:
            oldest = oldest.with_for_update(skip_locked=True)
        stmt = (
            update(Job)
            .where(Job.id.in_(oldest.scalar_subquery()), *due)
            .values(
                status=JobStatus.RUNNING.value,
                lease_owner=worker,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempt=Job.attempt + 1,
                started_at=now,
            )
            .returning(*_CLAIMED_COLUMNS)
        )
        rows, _ = await self.db.execute_one(stmt)
        return [ClaimedJob(*row) for row in rows]

    def _owned(self, job_id: str, worker: str) -> tuple[ColumnElement[bool], ...]:
        return (Job.id == job_id, Job.lease_owner == worker, Job.status == JobStatus.RUNNING.value)

    async def heartbeat(
        self, job_ids: Collection[str], worker: str, lease_seconds: float
    ) -> dict[str, bool]:
        """Extend the leases of this worker's running jobs in one statement. Returns, for
        each job still held, whether cancellation was requested; a missing id means its
        lease was lost (reaped, perhaps claimed by another worker)."""
        if not job_ids:
            return {}
        stmt = (
            update(Job)
            .where(
                Job.id.in_(list(job_ids)),
                Job.lease_owner == worker,
                Job.status == JobStatus.RUNNING.value,
            )
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            .returning(Job.id, Job.cancel_requested)
        )
        rows, _ = await self.db.execute_one(stmt)
        return {row[0]: bool(row[1]) for row in rows}

    async def progress(self, job_id: str, worker: str, data: dict[str, Any]) -> None:
        await self.db.execute_one(
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
        _, count = await self.db.execute_one(stmt)
        return count == 1

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
        _, count = await self.db.execute_one(stmt)
        return count == 1

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
        _, count = await self.db.execute_one(stmt)
        return count == 1

    async def reap(self) -> Reaped:
        """Jobs whose lease expired (their worker died): cancelled if that was asked, failed
        if they are out of attempts, otherwise queued again at once."""
        now = utcnow()
        expired = (Job.status == JobStatus.RUNNING.value, Job.lease_expires_at < now)
        cleared = {"lease_owner": None, "lease_expires_at": None}
        async with self.db.write_connection() as conn:
            cancelled = await conn.execute(
                update(Job)
                .where(*expired, Job.cancel_requested.is_(True))
                .values(status=JobStatus.CANCELLED.value, finished_at=now, **cleared)
                .returning(Job.id, Job.workspace_id)
            )
            cancelled_rows = [(r[0], r[1]) for r in cancelled]
            failed = await conn.execute(
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
            requeued = await conn.execute(
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
        async with self.db.write_connection() as conn:
            queued = await conn.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.QUEUED.value)
                .values(status=JobStatus.CANCELLED.value, cancel_requested=True, finished_at=now)
            )
            if queued.rowcount:
                return JobStatus.CANCELLED
            running = await conn.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.RUNNING.value)
                .values(cancel_requested=True)
            )
            if running.rowcount:
                return JobStatus.RUNNING
        return None
