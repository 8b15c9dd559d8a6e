"""API shapes of workflow triggers that `schemas.py` does not hold: schedule updates, the
answer to an inbound webhook, and outbound webhook targets with their ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from codexos_server.workflows.schemas import WebhookTargetCreated


class ScheduleUpdate(BaseModel):
    """Only the fields sent change; a new cron or time zone recomputes `next_fire_at`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": False}]})

    cron: str | None = Field(
        default=None, min_length=9, max_length=120, description="Standard five-field cron"
    )
    timezone: str | None = Field(default=None, max_length=64)
    inputs: dict[str, Any] | None = None
    enabled: bool | None = None


class HookAccepted(BaseModel):
    """A signed webhook request was accepted and started this run."""

    run_id: str
    workflow_id: str
    status: str


class WebhookTargetOut(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime | None = None


class WebhookTargetCreatedOut(WebhookTargetCreated):
    """The new target with its secret, shown this once."""

    id: str
    created_at: datetime
