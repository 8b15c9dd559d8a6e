"""What the request middleware tells the monitoring parts about each HTTP request.

The middleware calls every observer synchronously on the request's path, so an observer
must not do I/O: it counts, or appends to a buffer that something else flushes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

UNMATCHED_ROUTE = "<unmatched>"  # 404s of unknown paths: one label, not one per raw path


@dataclass(frozen=True, slots=True)
class RequestRecord:
    finished_at: datetime
    method: str
    route: str  # the route template ("/api/v1/agents/{agent_id}"), never the raw path
    status: int
    duration_ms: float
    workspace_id: str | None
    user_id: str | None
    api_key_id: str | None


class RequestObserver(Protocol):
    def request_started(self) -> None: ...

    def request_finished(self, record: RequestRecord) -> None: ...
