"""Job API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from codexos_server.jobs.models import JobStatus


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    status: JobStatus
    workspace_id: str | None
    attempt: int
    max_attempts: int
    payload: dict[str, Any]
    result: Any | None
    error: dict[str, Any] | None
    progress: dict[str, Any] | None
    cancel_requested: bool
    idempotency_key: str | None
    run_after: datetime
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
