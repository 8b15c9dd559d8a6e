"""Workflow, version, run, node run, schedule, hook and webhook delivery tables."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codexos_server.db.base import Base, IdMixin, JSONType, TimestampMixin


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # only waiting nodes (approval, wait) are left
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


RUN_FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class NodeStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


NODE_FINISHED = frozenset(
    {NodeStatus.SUCCEEDED, NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.CANCELLED}
)


class Workflow(IdMixin, TimestampMixin, Base):
    __tablename__ = "workflows"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Outbound webhooks: [{"url", "events": ["run.succeeded", "run.failed"], "secret_encrypted"}]
    webhooks: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # Set when the workflow was installed from the marketplace.
    source_listing_id: Mapped[str | None] = mapped_column(String(36), index=True)
    source_listing_version: Mapped[int | None] = mapped_column(Integer)


class WorkflowVersion(IdMixin, TimestampMixin, Base):
    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "version"),)

    workflow_id: Mapped[str] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)


class WorkflowRun(IdMixin, TimestampMixin, Base):
    __tablename__ = "workflow_runs"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        # A map item starts once, however many wake-ups of its map node race.
        UniqueConstraint("parent_run_id", "parent_node_key", "item_index"),
    )

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    workflow_id: Mapped[str] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    workflow_version: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A `map` item runs as a child run of the sub-graph at `graph_path` (map node ids).
    parent_run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    parent_node_key: Mapped[str | None] = mapped_column(String(300))
    graph_path: Mapped[list[str]] = mapped_column(JSONType, default=list)
    item_index: Mapped[int | None] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(
        String(16), default="api"
    )  # api | schedule | webhook | rerun
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED.value, index=True)
    inputs: Mapped[Any] = mapped_column(JSONType, nullable=True)
    output: Mapped[Any] = mapped_column(JSONType, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    rerun_of: Mapped[str | None] = mapped_column(String(36))
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class NodeRun(IdMixin, TimestampMixin, Base):
    """The state of one node in one run; persisted before the next node starts."""

    __tablename__ = "workflow_node_runs"
    __table_args__ = (UniqueConstraint("run_id", "node_id"),)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("workflow_runs.id", ondelete="CASCADE"), index=True
    )
    node_id: Mapped[str] = mapped_column(String(64))
    node_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=NodeStatus.PENDING.value)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    input: Mapped[Any] = mapped_column(JSONType, nullable=True)
    output: Mapped[Any] = mapped_column(JSONType, nullable=True)
    branch: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    job_id: Mapped[str | None] = mapped_column(String(36))
    wake_at: Mapped[datetime | None] = mapped_column()  # wait / approval timeout
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    duration_ms: Mapped[float | None] = mapped_column()


class Approval(IdMixin, TimestampMixin, Base):
    __tablename__ = "workflow_approvals"
    __table_args__ = (UniqueConstraint("run_id", "node_id"),)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("workflow_runs.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    node_id: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending|approved|rejected|timed_out
    decided_by: Mapped[str | None] = mapped_column(String(36))
    decided_at: Mapped[datetime | None] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column()
    default_outcome: Mapped[str] = mapped_column(String(16), default="reject")


class Schedule(IdMixin, TimestampMixin, Base):
    __tablename__ = "workflow_schedules"

    workflow_id: Mapped[str] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    created_by: Mapped[str | None] = mapped_column(String(36))
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    inputs: Mapped[Any] = mapped_column(JSONType, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_fire_at: Mapped[datetime | None] = mapped_column(index=True)
    last_fired_at: Mapped[datetime | None] = mapped_column()


class ScheduleFiring(IdMixin, TimestampMixin, Base):
    """One row per (schedule, slot): the unique constraint makes a slot fire once, however
    many schedulers race for it."""

    __tablename__ = "workflow_schedule_firings"
    __table_args__ = (UniqueConstraint("schedule_id", "slot"),)

    schedule_id: Mapped[str] = mapped_column(
        ForeignKey("workflow_schedules.id", ondelete="CASCADE"), index=True
    )
    slot: Mapped[datetime] = mapped_column()
    run_id: Mapped[str | None] = mapped_column(String(36))


class Hook(IdMixin, TimestampMixin, Base):
    """An inbound webhook: POST /api/v1/hooks/{token}, signed with the hook's secret."""

    __tablename__ = "workflow_hooks"

    workflow_id: Mapped[str] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    created_by: Mapped[str | None] = mapped_column(String(36))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class HookReceipt(IdMixin, TimestampMixin, Base):
    """Signatures already accepted, so a replayed request is refused within the window."""

    __tablename__ = "workflow_hook_receipts"
    __table_args__ = (UniqueConstraint("hook_id", "signature"),)

    hook_id: Mapped[str] = mapped_column(
        ForeignKey("workflow_hooks.id", ondelete="CASCADE"), index=True
    )
    signature: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str | None] = mapped_column(String(36))


class WebhookDelivery(IdMixin, TimestampMixin, Base):
    """One attempt to POST a run's outcome to a user's URL."""

    __tablename__ = "workflow_webhook_deliveries"

    workflow_id: Mapped[str] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    url: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column()
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
