"""Per-minute roll-ups of request records and finished runs.

Each roll-up ('requests', 'runs') has a watermark, `rolled_until`: every minute before it
is aggregated into `request_rollups` / `run_rollups` and final. `run()` aggregates the
complete minutes since the watermark and moves it (under the watermark row's lock, so two
processes never roll up the same minute), then prunes raw request records past retention.
Readers combine the roll-ups before the watermark with the raw rows after it (at most a
minute or two of them), so a summary is exact up to the histogram's 2% and survives
restarts: everything it reads is in the database.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.agents.models import Run
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.monitoring.histogram import bucket_of
from codexos_server.monitoring.models import RequestLog, RequestRollup, RollupState, RunRollup

MINUTE = timedelta(minutes=1)
ROLLUPS = ("requests", "runs")


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def run_duration_ms(run: Any) -> float:
    start = run.started_at or run.created_at
    if run.finished_at is None or start is None:
        return 0.0
    return max(0.0, float((run.finished_at - start).total_seconds()) * 1000)


@dataclass
class Tally:
    """One aggregate being built: counts, token and cost sums and a latency histogram."""

    count: int = 0
    errors: int = 0
    client_errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    total_ms: float = 0.0
    buckets: dict[str, int] = field(default_factory=dict)

    def add_latency(self, ms: float) -> None:
        self.count += 1
        self.total_ms += ms
        key = str(bucket_of(ms))
        self.buckets[key] = self.buckets.get(key, 0) + 1


def request_rows(rows: Any) -> dict[tuple[datetime, str], Tally]:
    """(minute, workspace id or '') -> tally, from (finished_at, workspace_id, status, ms)."""
    tallies: dict[tuple[datetime, str], Tally] = defaultdict(Tally)
    for finished_at, workspace_id, status, duration_ms in rows:
        tally = tallies[(floor_minute(finished_at), workspace_id or "")]
        tally.add_latency(duration_ms)
        tally.errors += status >= 500
        tally.client_errors += 400 <= status < 500
    return tallies


RunKey = tuple[datetime, str, str, str, str, str]  # minute, workspace, agent, model, key, status


def run_rows(runs: Any) -> dict[RunKey, Tally]:
    tallies: dict[RunKey, Tally] = defaultdict(Tally)
    for run in runs:
        key = (
            floor_minute(run.finished_at),
            run.workspace_id,
            run.agent_id,
            run.model or "",
            run.api_key_id or "",
            run.status,
        )
        tally = tallies[key]
        tally.add_latency(run_duration_ms(run))
        usage = run.usage or {}
        tally.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        tally.completion_tokens += int(usage.get("completion_tokens") or 0)
        tally.cost += float(run.cost or 0.0)
    return tallies


RUN_COLUMNS = (
    Run.finished_at,
    Run.started_at,
    Run.created_at,
    Run.workspace_id,
    Run.agent_id,
    Run.model,
    Run.api_key_id,
    Run.status,
    Run.usage,
    Run.cost,
)


class Rollup:
    def __init__(self, db: Database, retention_days: int) -> None:
        self.db = db
        self.retention = timedelta(days=retention_days)
        self._last_minute: datetime | None = None

    def due(self) -> bool:
        """True once per clock minute: there is only something to roll up when one ends."""
        minute = floor_minute(utcnow())
        if minute == self._last_minute:
            return False
        self._last_minute = minute
        return True

    async def watermarks(self, session: AsyncSession) -> dict[str, datetime | None]:
        rows = (await session.execute(select(RollupState.name, RollupState.rolled_until))).all()
        found: dict[str, datetime | None] = {name: None for name in ROLLUPS}
        found.update({name: until for name, until in rows})
        return found

    async def _ensure_state(self, session: AsyncSession, name: str, start: datetime) -> None:
        values = {"name": name, "rolled_until": start}
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(pg_insert(RollupState).values(values).on_conflict_do_nothing())
        else:
            await session.execute(
                sqlite_insert(RollupState).values(values).on_conflict_do_nothing()
            )

    async def _start(self, session: AsyncSession, name: str, current: datetime) -> datetime:
        column = RequestLog.finished_at if name == "requests" else Run.finished_at
        earliest = await session.scalar(select(func.min(column)))
        floor = current - self.retention
        start = floor_minute(max(earliest, floor)) if earliest is not None else current
        await self._ensure_state(session, name, start)
        state = await session.scalar(
            select(RollupState)
            .where(RollupState.name == name)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert state is not None
        return state.rolled_until

    async def run(self, now: datetime | None = None) -> None:
        """Roll up the complete minutes since each watermark, one minute behind the clock
        (other processes' buffered records for the last minute may not be written yet);
        prune old raw records."""
        current = floor_minute(now or utcnow()) - MINUTE
        async with self.db.transaction() as session:
            for name in ROLLUPS:
                start = await self._start(session, name, current)
                if start >= current:
                    continue
                if name == "requests":
                    await self._requests(session, start, current)
                else:
                    await self._runs(session, start, current)
                await session.execute(
                    update(RollupState).where(RollupState.name == name).values(rolled_until=current)
                )
            await session.execute(
                delete(RequestLog).where(RequestLog.finished_at < current - self.retention)
            )

    @staticmethod
    async def _requests(session: AsyncSession, start: datetime, end: datetime) -> None:
        rows = await session.execute(
            select(
                RequestLog.finished_at,
                RequestLog.workspace_id,
                RequestLog.status,
                RequestLog.duration_ms,
            ).where(RequestLog.finished_at >= start, RequestLog.finished_at < end)
        )
        tallies = request_rows(rows.all())
        await session.execute(
            delete(RequestRollup).where(RequestRollup.minute >= start, RequestRollup.minute < end)
        )
        if tallies:
            await session.execute(
                insert(RequestRollup),
                [
                    {
                        "minute": minute,
                        "workspace_id": workspace_id,
                        "count": t.count,
                        "errors": t.errors,
                        "client_errors": t.client_errors,
                        "total_ms": t.total_ms,
                        "buckets": t.buckets,
                    }
                    for (minute, workspace_id), t in tallies.items()
                ],
            )

    @staticmethod
    async def _runs(session: AsyncSession, start: datetime, end: datetime) -> None:
        runs = await session.execute(
            select(*RUN_COLUMNS).where(Run.finished_at >= start, Run.finished_at < end)
        )
        tallies = run_rows(runs.all())
        await session.execute(
            delete(RunRollup).where(RunRollup.minute >= start, RunRollup.minute < end)
        )
        if tallies:
            await session.execute(
                insert(RunRollup),
                [
                    {
                        "minute": key[0],
                        "workspace_id": key[1],
                        "agent_id": key[2],
                        "model": key[3],
                        "api_key_id": key[4],
                        "status": key[5],
                        "count": t.count,
                        "prompt_tokens": t.prompt_tokens,
                        "completion_tokens": t.completion_tokens,
                        "cost": t.cost,
                        "total_ms": t.total_ms,
                        "buckets": t.buckets,
                    }
                    for key, t in tallies.items()
                ],
            )
