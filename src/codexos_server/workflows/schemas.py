"""Workflow API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from codexos_server.workflows.models import NodeStatus, RunStatus


class WorkflowCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    spec: dict[str, Any] = Field(description="The graph: nodes and edges (see the docs)")


class WorkflowUpdate(BaseModel):
    """Every change of the spec creates a new immutable version."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    spec: dict[str, Any] | None = None


class WorkflowOut(BaseModel):
    id: str
    name: str
    description: str | None
    spec: dict[str, Any]
    version: int
    webhooks: list[dict[str, Any]]
    source_listing_id: str | None = None  # the marketplace listing it was installed from
    source_listing_version: int | None = None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class WorkflowVersionOut(BaseModel):
    version: int
    name: str
    spec: dict[str, Any]
    created_at: datetime


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: dict[str, Any]


class ValidateResponse(BaseModel):
    valid: bool
    problems: list[dict[str, Any]]


class RunCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"inputs": {"topic": "tidal power"}}]}
    )
    inputs: dict[str, Any] = Field(default_factory=dict)


class NodeRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    node_id: str
    node_type: str
    status: NodeStatus
    attempt: int
    input: Any
    output: Any
    branch: str | None
    error: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None


class WorkflowRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    workflow_id: str
    workflow_version: int
    status: RunStatus
    trigger: str
    inputs: Any
    output: Any
    error: dict[str, Any] | None
    parent_run_id: str | None
    item_index: int | None
    rerun_of: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ApprovalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    run_id: str
    node_id: str
    prompt: str
    status: Literal["pending", "approved", "rejected", "timed_out"]
    default_outcome: Literal["approve", "reject"]
    expires_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    created_at: datetime


class WorkflowRunDetail(WorkflowRunOut):
    nodes: list[NodeRunOut]
    approvals: list[ApprovalOut]


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(default=None, max_length=5000)


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}]},
    )

    cron: str = Field(min_length=9, max_length=120, description="Standard five-field cron")
    timezone: str = Field(default="UTC", max_length=64)
    inputs: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class ScheduleOut(BaseModel):
    id: str
    workflow_id: str
    cron: str
    timezone: str
    inputs: dict[str, Any]
    enabled: bool
    next_fire_at: datetime | None
    last_fired_at: datetime | None
    created_at: datetime


class HookOut(BaseModel):
    id: str
    workflow_id: str
    enabled: bool
    url: str | None = Field(default=None, description="Shown once, at creation")
    secret: str | None = Field(default=None, description="Shown once: sign requests with it")
    created_at: datetime


WebhookEvent = Literal["run.succeeded", "run.failed", "run.cancelled"]


def _default_events() -> list[WebhookEvent]:
    return ["run.succeeded", "run.failed"]


class WebhookTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    events: list[WebhookEvent] = Field(default_factory=_default_events, min_length=1)


class WebhookTargetCreated(BaseModel):
    url: str
    events: list[str]
    secret: str = Field(description="Shown once: verify our signature with it")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    run_id: str
    url: str
    event: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: float | None
    delivered: bool
    created_at: datetime
