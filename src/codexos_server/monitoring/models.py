"""Monitoring tables: raw request records, per-minute roll-ups of requests and runs, the
roll-up watermark, and usage budgets."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codexos_server.db.base import Base, IdMixin, JSONType, TimestampMixin


class RequestLog(Base):
    """One HTTP request: written in batches by the request recorder, rolled up per minute,
    pruned after `monitoring_retention_days`."""

    __tablename__ = "request_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    finished_at: Mapped[datetime] = mapped_column(index=True)
    workspace_id: Mapped[str | None] = mapped_column(String(36))
    user_id: Mapped[str | None] = mapped_column(String(36))
    api_key_id: Mapped[str | None] = mapped_column(String(36))
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(300))
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)


class RequestRollup(Base):
    """Requests of one workspace in one minute ('' for unauthenticated requests), with a
    latency histogram (see `histogram.py`) from which window percentiles are computed."""

    __tablename__ = "request_rollups"
    __table_args__ = (UniqueConstraint("minute", "workspace_id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    minute: Mapped[datetime] = mapped_column(index=True)
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    count: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)  # 5xx
    client_errors: Mapped[int] = mapped_column(Integer)  # 4xx
    total_ms: Mapped[float] = mapped_column(Float)
    buckets: Mapped[dict[str, int]] = mapped_column(JSONType)


class RunRollup(Base):
    """Finished agent runs in one minute, by workspace, agent, model, API key and status."""

    __tablename__ = "run_rollups"
    __table_args__ = (
        UniqueConstraint("minute", "workspace_id", "agent_id", "model", "api_key_id", "status"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    minute: Mapped[datetime] = mapped_column(index=True)
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    agent_id: Mapped[str] = mapped_column(String(36), index=True)
    model: Mapped[str] = mapped_column(String(200))  # '' when no model was resolved
    api_key_id: Mapped[str] = mapped_column(String(36))  # '' when not started with a key
    status: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Float)
    total_ms: Mapped[float] = mapped_column(Float)
    buckets: Mapped[dict[str, int]] = mapped_column(JSONType)


class RollupState(Base):
    """Up to which minute each roll-up is final ('requests', 'runs')."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    rolled_until: Mapped[datetime] = mapped_column()


class BudgetScope(StrEnum):
    WORKSPACE = "workspace"
    API_KEY = "api_key"
    AGENT = "agent"


class BudgetMetric(StrEnum):
    TOKENS = "tokens"
    COST = "cost"  # estimated USD, as runs report it


class Budget(IdMixin, TimestampMixin, Base):
    """A monthly limit on tokens or cost for a workspace, one of its API keys or agents.
    `spent` counts the current `period` (UTC "YYYY-MM"); it restarts with the month."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("workspace_id", "scope", "scope_id", "metric"),)

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(36))  # the workspace, key or agent id
    metric: Mapped[str] = mapped_column(String(8))
    limit: Mapped[float] = mapped_column(Float)
    period: Mapped[str] = mapped_column(String(7))
    spent: Mapped[float] = mapped_column(Float, default=0.0)
    # The period in which the 80% / 100% events were published (each once per period).
    warned_period: Mapped[str | None] = mapped_column(String(7))
    exceeded_period: Mapped[str | None] = mapped_column(String(7))
