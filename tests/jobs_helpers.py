"""Helpers shared by the job tests."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from codexos_server.db.database import Database
from codexos_server.jobs.models import FINISHED, Job, JobStatus


async def wait_for_status(
    db: Database, job_id: str, *statuses: JobStatus, timeout: float = 20
) -> Job:
    wanted = set(statuses) or set(FINISHED)
    deadline = time.monotonic() + timeout
    while True:
        async with db.read() as session:
            job = await session.scalar(select(Job).where(Job.id == job_id))
        assert job is not None
        if JobStatus(job.status) in wanted:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(
                f"job {job_id} stayed {job.status} (wanted {sorted(wanted)}): {job.error}"
            )
        await asyncio.sleep(0.05)
