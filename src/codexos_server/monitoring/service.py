"""The monitoring API's numbers: workspace summaries, agent stats and usage, read from the
per-minute roll-ups before the watermark plus the raw records after it (see rollup.py)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.agents.models import Agent, Run, RunStatus
from codexos_server.auth.principal import Principal
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import NotFound
from codexos_server.monitoring.histogram import merge, percentile
from codexos_server.monitoring.models import RequestLog, RequestRollup, RunRollup
from codexos_server.monitoring.rollup import (
    RUN_COLUMNS,
    Rollup,
    RunKey,
    Tally,
    floor_minute,
    request_rows,
    run_rows,
)
from codexos_server.monitoring.schemas import (
    WINDOWS,
    AgentDay,
    AgentStats,
    Latency,
    MetricsSummary,
    RequestSummary,
    RunSummary,
    Tokens,
    TopAgent,
    UsageReport,
    UsageRow,
    Window,
)
from codexos_server.workspaces.permissions import Action

TOP_AGENTS = 5
USAGE_CSV_COLUMNS = (
    "day",
    "agent_id",
    "api_key_id",
    "model",
    "runs",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
)


def latency(tally: Tally) -> Latency:
    return Latency(
        p50_ms=percentile(tally.buckets, 0.50),
        p95_ms=percentile(tally.buckets, 0.95),
        p99_ms=percentile(tally.buckets, 0.99),
        mean_ms=round(tally.total_ms / tally.count, 2) if tally.count else None,
    )


def _absorb(into: Tally, other: Tally) -> None:
    into.count += other.count
    into.errors += other.errors
    into.client_errors += other.client_errors
    into.prompt_tokens += other.prompt_tokens
    into.completion_tokens += other.completion_tokens
    into.cost += other.cost
    into.total_ms += other.total_ms
    merge(into.buckets, other.buckets)


def tokens(tally: Tally) -> Tokens:
    return Tokens(
        prompt=tally.prompt_tokens,
        completion=tally.completion_tokens,
        total=tally.prompt_tokens + tally.completion_tokens,
    )


class MonitoringService:
    def __init__(self, db: Database, rollup: Rollup) -> None:
        self.db = db
        self.rollup = rollup

    # -- reading the records -----------------------------------------------------------------

    async def requests(self, session: AsyncSession, workspace_id: str, since: datetime) -> Tally:
        """All requests of the workspace that finished in a minute from `since` on."""
        start = floor_minute(since)
        watermark = (await self.rollup.watermarks(session))["requests"]
        total = Tally()
        if watermark is not None and watermark > start:
            rows = await session.scalars(
                select(RequestRollup).where(
                    RequestRollup.workspace_id == workspace_id,
                    RequestRollup.minute >= start,
                    RequestRollup.minute < watermark,
                )
            )
            for row in rows:
                _absorb(
                    total,
                    Tally(
                        count=row.count,
                        errors=row.errors,
                        client_errors=row.client_errors,
                        total_ms=row.total_ms,
                        buckets=dict(row.buckets),
                    ),
                )
            start = watermark
        raw = await session.execute(
            select(
                RequestLog.finished_at,
                RequestLog.workspace_id,
                RequestLog.status,
                RequestLog.duration_ms,
            ).where(RequestLog.workspace_id == workspace_id, RequestLog.finished_at >= start)
        )
        for tally in request_rows(raw.all()).values():
            _absorb(total, tally)
        return total

    async def runs(
        self,
        session: AsyncSession,
        workspace_id: str,
        since: datetime,
        agent_id: str | None = None,
    ) -> dict[RunKey, Tally]:
        """Finished runs of the workspace (or one agent) by minute, agent, model, key, status."""
        start = floor_minute(since)
        watermark = (await self.rollup.watermarks(session))["runs"]
        result: dict[RunKey, Tally] = defaultdict(Tally)
        if watermark is not None and watermark > start:
            stmt = select(RunRollup).where(
                RunRollup.workspace_id == workspace_id,
                RunRollup.minute >= start,
                RunRollup.minute < watermark,
            )
            if agent_id is not None:
                stmt = stmt.where(RunRollup.agent_id == agent_id)
            for row in await session.scalars(stmt):
                key = (
                    row.minute,
                    row.workspace_id,
                    row.agent_id,
                    row.model,
                    row.api_key_id,
                    row.status,
                )
                _absorb(
                    result[key],
                    Tally(
                        count=row.count,
                        prompt_tokens=row.prompt_tokens,
                        completion_tokens=row.completion_tokens,
                        cost=row.cost,
                        total_ms=row.total_ms,
                        buckets=dict(row.buckets),
                    ),
                )
            start = watermark
        stmt_raw = select(*RUN_COLUMNS).where(
            Run.workspace_id == workspace_id, Run.finished_at >= start
        )
        if agent_id is not None:
            stmt_raw = stmt_raw.where(Run.agent_id == agent_id)
        for key, tally in run_rows((await session.execute(stmt_raw)).all()).items():
            _absorb(result[key], tally)
        return result

    # -- the endpoints -----------------------------------------------------------------------

    async def summary(self, actor: Principal, window: Window) -> MetricsSummary:
        actor.require(Action.READ)
        until = utcnow()
        since = until - WINDOWS[window]
        async with self.db.read() as session:
            requests = await self.requests(session, actor.workspace_id, since)
            runs = await self.runs(session, actor.workspace_id, since)
            all_runs = Tally()
            by_status: dict[str, int] = defaultdict(int)
            by_agent: dict[str, Tally] = defaultdict(Tally)
            for key, tally in runs.items():
                _absorb(all_runs, tally)
                by_status[key[5]] += tally.count
                _absorb(by_agent[key[2]], tally)
            top = sorted(by_agent.items(), key=lambda item: (-item[1].count, item[0]))
            top = top[:TOP_AGENTS]
            names = dict(
                (
                    await session.execute(
                        select(Agent.id, Agent.name).where(Agent.id.in_([a for a, _ in top]))
                    )
                ).all()
            )
        return MetricsSummary(
            workspace_id=actor.workspace_id,
            window=window,
            since=floor_minute(since),
            until=until,
            requests=RequestSummary(
                count=requests.count,
                server_errors=requests.errors,
                client_errors=requests.client_errors,
                error_rate=round(requests.errors / requests.count, 4) if requests.count else 0.0,
                latency=latency(requests),
            ),
            runs=RunSummary(
                count=all_runs.count,
                by_status=dict(by_status),
                latency=latency(all_runs),
                tokens=tokens(all_runs),
                cost=round(all_runs.cost, 6),
            ),
            top_agents=[
                TopAgent(
                    agent_id=agent_id,
                    name=names.get(agent_id),
                    runs=t.count,
                    tokens=t.prompt_tokens + t.completion_tokens,
                    cost=round(t.cost, 6),
                )
                for agent_id, t in top
            ],
        )

    async def agent_stats(self, actor: Principal, agent_id: str, window: Window) -> AgentStats:
        actor.require(Action.READ)
        since = utcnow() - WINDOWS[window]
        async with self.db.read() as session:
            found = await session.scalar(
                select(Agent.id).where(
                    Agent.id == agent_id, Agent.workspace_id == actor.workspace_id
                )
            )
            if found is None:
                raise NotFound("agent", agent_id)
            runs = await self.runs(session, actor.workspace_id, since, agent_id)
        total = Tally()
        days: dict[date, Tally] = defaultdict(Tally)
        succeeded: dict[date, int] = defaultdict(int)
        failed: dict[date, int] = defaultdict(int)
        for key, tally in runs.items():
            _absorb(total, tally)
            day = key[0].date()
            _absorb(days[day], tally)
            if key[5] == RunStatus.SUCCEEDED.value:
                succeeded[day] += tally.count
            elif key[5] == RunStatus.FAILED.value:
                failed[day] += tally.count
        ok = sum(succeeded.values())
        return AgentStats(
            agent_id=agent_id,
            window=window,
            runs=total.count,
            success_rate=round(ok / total.count, 4) if total.count else None,
            latency=latency(total),
            tokens=tokens(total),
            cost=round(total.cost, 6),
            days=[
                AgentDay(
                    day=day,
                    runs=t.count,
                    succeeded=succeeded[day],
                    failed=failed[day],
                    tokens=tokens(t),
                    cost=round(t.cost, 6),
                )
                for day, t in sorted(days.items())
            ],
        )

    async def usage(self, actor: Principal, window: Window) -> UsageReport:
        """Tokens and cost per day, agent, API key and model."""
        actor.require(Action.READ)
        until = utcnow()
        since = until - WINDOWS[window]
        async with self.db.read() as session:
            runs = await self.runs(session, actor.workspace_id, since)
        grouped: dict[tuple[date, str, str, str], Tally] = defaultdict(Tally)
        total = Tally()
        for key, tally in runs.items():
            _absorb(grouped[(key[0].date(), key[2], key[4], key[3])], tally)
            _absorb(total, tally)
        rows = [
            UsageRow(
                day=day,
                agent_id=agent_id,
                api_key_id=api_key_id or None,
                model=model or None,
                runs=t.count,
                prompt_tokens=t.prompt_tokens,
                completion_tokens=t.completion_tokens,
                total_tokens=t.prompt_tokens + t.completion_tokens,
                cost=round(t.cost, 6),
            )
            for (day, agent_id, api_key_id, model), t in sorted(grouped.items())
        ]
        return UsageReport(
            workspace_id=actor.workspace_id,
            since=floor_minute(since),
            until=until,
            rows=rows,
            totals=tokens(total),
            cost=round(total.cost, 6),
        )


def usage_csv(report: UsageReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(USAGE_CSV_COLUMNS)
    for row in report.rows:
        values: dict[str, Any] = row.model_dump(mode="json")
        writer.writerow(["" if values[c] is None else values[c] for c in USAGE_CSV_COLUMNS])
    return out.getvalue()
