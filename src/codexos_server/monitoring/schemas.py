"""Monitoring API shapes: workspace summaries, agent stats, usage, system status, budgets."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from codexos_server.monitoring.models import BudgetMetric, BudgetScope

Window = Literal["1h", "24h", "7d", "30d"]
WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


class Latency(BaseModel):
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None


class RequestSummary(BaseModel):
    count: int
    server_errors: int = Field(description="5xx responses")
    client_errors: int = Field(description="4xx responses")
    error_rate: float = Field(description="5xx / all; 0 when there were no requests")
    latency: Latency


class Tokens(BaseModel):
    prompt: int
    completion: int
    total: int


class TopAgent(BaseModel):
    agent_id: str
    name: str | None
    runs: int
    tokens: int
    cost: float


class RunSummary(BaseModel):
    count: int
    by_status: dict[str, int]
    latency: Latency
    tokens: Tokens
    cost: float = Field(description="Estimated USD")


class MetricsSummary(BaseModel):
    workspace_id: str
    window: Window
    since: datetime
    until: datetime
    requests: RequestSummary
    runs: RunSummary
    top_agents: list[TopAgent]


class AgentDay(BaseModel):
    day: date
    runs: int
    succeeded: int
    failed: int
    tokens: Tokens
    cost: float


class AgentStats(BaseModel):
    agent_id: str
    window: Window
    runs: int
    success_rate: float | None = Field(description="Succeeded / finished; null when no runs")
    latency: Latency
    tokens: Tokens
    cost: float
    days: list[AgentDay]


class UsageRow(BaseModel):
    day: date
    agent_id: str
    api_key_id: str | None
    model: str | None
    runs: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float


class UsageReport(BaseModel):
    workspace_id: str
    since: datetime
    until: datetime
    rows: list[UsageRow]
    totals: Tokens
    cost: float


class Check(BaseModel):
    status: Literal["ok", "error", "not_configured"]
    detail: str | None = None


class WorkerOut(BaseModel):
    name: str
    running_jobs: int
    lease_expires_at: datetime | None = Field(
        description="Latest lease it holds; renewed while alive"
    )


class SystemStatus(BaseModel):
    version: str
    uptime_seconds: float
    python: str
    database: Check
    redis: Check
    broker: Check
    queue: dict[str, dict[str, int]] = Field(description="Jobs by kind and status")
    workers: list[WorkerOut]
    memory_rss_bytes: int | None
    rollups: dict[str, datetime | None] = Field(description="Minutes rolled up until")


class BudgetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: BudgetScope = BudgetScope.WORKSPACE
    scope_id: str | None = Field(
        default=None, max_length=36, description="API key or agent id; omit for the workspace"
    )
    metric: BudgetMetric
    limit: float = Field(gt=0, le=1e12, description="Tokens, or estimated USD, per month")


class BudgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: float = Field(gt=0, le=1e12)


class BudgetOut(BaseModel):
    id: str
    workspace_id: str
    scope: BudgetScope
    scope_id: str
    metric: BudgetMetric
    limit: float
    period: str = Field(description='The month it counts, "YYYY-MM" (UTC)')
    spent: float
    used_fraction: float
    created_at: datetime
    updated_at: datetime
