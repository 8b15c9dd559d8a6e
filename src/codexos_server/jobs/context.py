"""What a job handler receives: its payload, attempt, cancellation and progress reporting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


class JobCancelled(Exception):
    """Raised by `JobContext.check_cancelled` when cancellation was requested."""


class JobFailed(Exception):
    """Raise from a handler to fail; `retry=False` makes the failure permanent."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass
class JobContext:
    job_id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    workspace_id: str | None
    user_id: str | None
    services: Any = field(repr=False)  # the app's Container: handlers reach services through it
    _cancel: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _report: Callable[[dict[str, Any]], Awaitable[None]] | None = field(default=None, repr=False)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Call between steps. Raises: JobCancelled once cancellation was requested."""
        if self._cancel.is_set():
            raise JobCancelled(self.job_id)

    async def progress(self, **data: Any) -> None:
        """Record progress on the job and publish a `job.progress` event."""
        if self._report is not None:
            await self._report(data)
