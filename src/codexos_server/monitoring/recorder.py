"""Request records: buffered on the request path, written in batches, rolled up per minute.

The middleware hands each request's record to `RequestRecorder.request_finished`, which only
appends to a list. A background loop writes the buffer every `monitoring_flush_seconds` in
one multi-row INSERT and runs the roll-up (see rollup.py); `close()` writes what is left,
so a clean shutdown loses nothing. A crash loses at most one flush interval of records.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import insert

from codexos_server.db.database import Database
from codexos_server.log import get_logger
from codexos_server.monitoring.models import RequestLog
from codexos_server.monitoring.requests import RequestRecord
from codexos_server.monitoring.rollup import Rollup

log = get_logger(__name__)

MAX_BUFFER = 100_000  # records kept while the database is unreachable; older ones dropped


class RequestRecorder:
    def __init__(self, db: Database, rollup: Rollup, flush_seconds: float) -> None:
        self.db = db
        self.rollup = rollup
        self.flush_seconds = flush_seconds
        self._buffer: list[RequestRecord] = []
        self._task: asyncio.Task[None] | None = None

    # -- the RequestObserver protocol (called on the request path: no I/O) -------------------

    def request_started(self) -> None:
        return None

    def request_finished(self, record: RequestRecord) -> None:
        self._buffer.append(record)
        if len(self._buffer) > MAX_BUFFER:
            del self._buffer[: len(self._buffer) - MAX_BUFFER]

    # -- background --------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write the buffered records; returns how many. On failure they are kept."""
        batch, self._buffer = self._buffer, []
        if not batch:
            return 0
        try:
            async with self.db.transaction() as session:
                await session.execute(
                    insert(RequestLog),
                    [
                        {
                            "finished_at": r.finished_at,
                            "workspace_id": r.workspace_id,
                            "user_id": r.user_id,
                            "api_key_id": r.api_key_id,
                            "method": r.method,
                            "route": r.route[:300],
                            "status": r.status,
                            "duration_ms": r.duration_ms,
                        }
                        for r in batch
                    ],
                )
        except Exception:
            self._buffer[:0] = batch
            raise
        return len(batch)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
                if self.rollup.due():
                    await self.rollup.run()
            except Exception:
                log.exception("monitoring_flush_failed")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="monitoring-recorder")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.flush()
            await self.rollup.run()
        except Exception:
            log.exception("monitoring_final_flush_failed")
