"""Job kinds: a handler plus its timeout, attempts and backoff, registered by name.

Built-in kinds register through the same `job_kind` decorator a plugin uses; modules listed in
`CODEXOS_JOB_MODULES` are imported at start-up so their kinds exist in API and worker alike.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codexos_server.jobs.context import JobContext

JobHandler = Callable[["JobContext"], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    handler: JobHandler
    timeout: float = 300.0
    max_attempts: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt + 1`: exponential with 0-25% jitter."""
        delay: float = min(self.backoff_base * 2.0 ** max(0, attempt - 1), self.backoff_max)
        return delay * (1 + random.random() / 4)


JOB_KINDS: dict[str, JobKind] = {}


def job_kind(
    name: str,
    *,
    timeout: float = 300.0,
    max_attempts: int = 3,
    backoff_base: float = 1.0,
    backoff_max: float = 60.0,
) -> Callable[[JobHandler], JobHandler]:
    """Register the decorated coroutine as the handler of job kind `name`."""

    def register(handler: JobHandler) -> JobHandler:
        JOB_KINDS[name] = JobKind(name, handler, timeout, max_attempts, backoff_base, backoff_max)
        return handler

    return register


def load_job_modules(modules: Iterable[str]) -> None:
    """Import plugin modules so that their `@job_kind` handlers register."""
    for module in modules:
        importlib.import_module(module)
