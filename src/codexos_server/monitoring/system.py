"""System status for admins: version, uptime, dependencies, queues, workers, memory."""

from __future__ import annotations

import asyncio
import platform
import time
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import func, select

from codexos_server import __version__
from codexos_server.auth.principal import Principal
from codexos_server.config import Settings
from codexos_server.db.database import Database
from codexos_server.jobs.models import Job, JobStatus
from codexos_server.monitoring.rollup import Rollup
from codexos_server.monitoring.schemas import Check, SystemStatus, WorkerOut

STARTED = time.monotonic()
CHECK_TIMEOUT = 2.0


def memory_rss_bytes() -> int | None:
    """This process's resident memory (Linux /proc), or None where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


async def _redis(url: str | None) -> Check:
    if not url:
        return Check(status="not_configured")
    client = Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)
    try:
        await client.ping()
        return Check(status="ok")
    except Exception as exc:
        return Check(status="error", detail=type(exc).__name__)
    finally:
        await client.aclose()


async def _broker(url: str | None) -> Check:
    if not url:
        return Check(status="not_configured", detail="jobs run in-process")
    if url.startswith(("redis://", "rediss://")):
        return await _redis(url)
    import aio_pika

    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), CHECK_TIMEOUT)
        await connection.close()
        return Check(status="ok")
    except Exception as exc:
        return Check(status="error", detail=type(exc).__name__)


class SystemService:
    def __init__(self, db: Database, rollup: Rollup, settings: Settings) -> None:
        self.db = db
        self.rollup = rollup
        self.settings = settings

    async def status(self, actor: Principal) -> SystemStatus:
        actor.require_admin()
        try:
            await asyncio.wait_for(self.db.ping(), CHECK_TIMEOUT)
            database = Check(status="ok")
        except Exception as exc:
            database = Check(status="error", detail=type(exc).__name__)
        redis, broker = await asyncio.gather(
            _redis(self.settings.redis_url), _broker(self.settings.broker_url)
        )
        queue: dict[str, dict[str, int]] = {}
        workers: list[WorkerOut] = []
        rollups = {}
        if database.status == "ok":
            async with self.db.read() as session:
                counts = await session.execute(
                    select(Job.kind, Job.status, func.count())
                    .where(Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
                    .group_by(Job.kind, Job.status)
                )
                for kind, status, count in counts.all():
                    queue.setdefault(kind, {})[status] = count
                leases = await session.execute(
                    select(Job.lease_owner, func.count(), func.max(Job.lease_expires_at))
                    .where(Job.status == JobStatus.RUNNING.value, Job.lease_owner.is_not(None))
                    .group_by(Job.lease_owner)
                )
                workers = [
                    WorkerOut(name=owner, running_jobs=count, lease_expires_at=expires)
                    for owner, count, expires in leases.all()
                ]
                rollups = await self.rollup.watermarks(session)
        return SystemStatus(
            version=__version__,
            uptime_seconds=round(time.monotonic() - STARTED, 1),
            python=platform.python_version(),
            database=database,
            redis=redis,
            broker=broker,
            queue=queue,
            workers=workers,
            memory_rss_bytes=memory_rss_bytes(),
            rollups=rollups,
        )
