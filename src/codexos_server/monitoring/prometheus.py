"""Prometheus metrics: what the server counts while it works.

Instrumented code calls a `Metrics` (the container's `metrics`): `NullMetrics` when
monitoring is off, so nothing is collected, or `PrometheusMetrics`, which owns one registry
per container (two apps in one process, as in the tests, never mix their numbers). Values
that are cheap to read when Prometheus scrapes (the job queue depth) are not counted here:
`scrape.py` computes them per scrape.

Multi-process: when `PROMETHEUS_MULTIPROC_DIR` is set before the process starts (uvicorn
with several workers; `codexos serve --workers N` sets it), prometheus-client keeps every
value in a per-process file in that directory and the scrape sums them
(`MultiProcessCollector`). Gauges say how to combine processes (`livesum`: the sum over live
processes). Every metric and label is listed in docs/metrics.md.

Label values are bounded on purpose: route templates (never raw paths), a fixed set of
methods, registered job kinds, built-in provider names; never user, workspace or agent ids.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from sqlalchemy import event

from codexos_server.db.database import Database
from codexos_server.llm.schemas import BUILTIN_PROVIDERS
from codexos_server.llm.types import ChatResult
from codexos_server.monitoring.requests import RequestRecord

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. Our API answers in milliseconds; model calls and jobs take seconds to minutes.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)

# Anything else a client sends as a method is one label value, not one per spelling.
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_OTHER_METHOD = "OTHER"
# A provider defined by a workspace has a user-chosen name: one label value for all of them.
_WORKSPACE_PROVIDER = "workspace"


def multiprocess_dir() -> str | None:
    """The multi-process directory, if this process runs in prometheus-client's
    multi-process mode (decided by the environment when prometheus_client is imported)."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


class Metrics(Protocol):
    """What instrumented code reports. Every method is cheap and does no I/O."""

    def websocket_opened(self) -> None: ...

    def websocket_closed(self) -> None: ...

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        """An attempt ended: succeeded, failed, cancelled or retrying."""

    def run_finished(self, status: str, cost: float) -> None:
        """An agent run reached its final status; `cost` is its estimated USD cost."""

    def model_call(self, provider: str, result: ChatResult | None, seconds: float) -> None:
        """A model call ended; `result` is None when it failed."""

    def document_ingested(self, chunks: int) -> None: ...

    def close(self) -> None:
        """The process is shutting down cleanly."""


class NullMetrics:
    """Monitoring off: nothing is collected."""

    def websocket_opened(self) -> None:
        pass

    def websocket_closed(self) -> None:
        pass

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        pass

    def run_finished(self, status: str, cost: float) -> None:
        pass

    def model_call(self, provider: str, result: ChatResult | None, seconds: float) -> None:
        pass

    def document_ingested(self, chunks: int) -> None:
        pass

    def close(self) -> None:
        pass


NULL_METRICS = NullMetrics()


def metrics_of(services: Any) -> Metrics:
    """The container's metrics (`services` is the Container, or None before it is built)."""
    metrics: Metrics = getattr(services, "metrics", NULL_METRICS)
    return metrics


class PrometheusMetrics:
    """The metrics of one container, in its own registry. Also the request observer the
    request middleware calls for every HTTP request."""

    def __init__(self, db: Database) -> None:
        self.multiprocess = multiprocess_dir() is not None
        # No `_created` series beside every counter and histogram: they double the series
        # count and Prometheus' text format has no use for them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        if not self.multiprocess:
            # Per-process facts; in multi-process mode a scrape would see one worker only.
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
        r = self.registry
        http_labels = ("method", "route", "status")
        self.http_requests = Counter(
            "codexos_http_requests", "HTTP requests answered", http_labels, registry=r
        )
        self.http_errors = Counter(
            "codexos_http_request_errors",
            "HTTP requests answered with a 4xx or 5xx status",
            http_labels,
            registry=r,
        )
        self.http_latency = Histogram(
            "codexos_http_request_duration_seconds",
            "Time from receiving a request to the end of its response",
            http_labels,
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.http_in_flight = Gauge(
            "codexos_http_requests_in_flight",
            "HTTP requests being handled",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.websockets = Gauge(
            "codexos_websocket_connections",
            "Open authenticated WebSocket connections (/api/v1/ws)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.job_duration = Histogram(
            "codexos_job_duration_seconds",
            "Duration of job attempts run by this process, by kind and outcome",
            ("kind", "status"),
            buckets=SLOW_BUCKETS,
            registry=r,
        )
        self.runs = Counter(
            "codexos_agent_runs", "Agent runs finished, by final status", ("status",), registry=r
        )
        self.run_cost = Counter(
            "codexos_agent_run_cost_usd",
            "Estimated cost of finished agent runs (from CODEXOS_LLM_PRICES)",
            registry=r,
        )
        self.model_calls = Counter(
            "codexos_model_calls",
            "Model calls, by provider and outcome",
            ("provider", "outcome"),
            registry=r,
        )
        self.model_latency = Histogram(
            "codexos_model_call_duration_seconds",
            "Duration of model calls",
            ("provider",),
            buckets=SLOW_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "codexos_model_tokens",
            "Tokens sent to (input) and generated by (output) models",
            ("provider", "direction"),
            registry=r,
        )
        self.documents = Counter(
            "codexos_ingest_documents", "Documents ingested into knowledge bases", registry=r
        )
        self.chunks = Counter(
            "codexos_ingest_chunks", "Chunks embedded and indexed by ingestion", registry=r
        )
        self._http: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._watch_pool(db)

    # -- HTTP (the request observer) -------------------------------------------------------

    def request_started(self) -> None:
        self.http_in_flight.inc()

    def request_finished(self, record: RequestRecord) -> None:
        key = (record.method, record.route, record.status)
        children = self._http.get(key)
        if children is None:
            children = self._http[key] = self._http_children(*key)
        count, latency, errors = children
        count.inc()
        latency.observe(record.duration_ms / 1000)
        if errors is not None:
            errors.inc()
        self.http_in_flight.dec()

    def _http_children(self, method: str, route: str, status: int) -> tuple[Any, Any, Any]:
        """The labelled series of one (method, route, status), looked up once."""
        labels = (method if method in _METHODS else _OTHER_METHOD, route, str(status))
        errors = self.http_errors.labels(*labels) if status >= 400 else None
        return self.http_requests.labels(*labels), self.http_latency.labels(*labels), errors

    # -- the rest --------------------------------------------------------------------------

    def websocket_opened(self) -> None:
        self.websockets.inc()

    def websocket_closed(self) -> None:
        self.websockets.dec()

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        self.job_duration.labels(kind, outcome).observe(seconds)

    def run_finished(self, status: str, cost: float) -> None:
        self.runs.labels(status).inc()
        if cost > 0:
            self.run_cost.inc(cost)

    def model_call(self, provider: str, result: ChatResult | None, seconds: float) -> None:
        provider = provider if provider in BUILTIN_PROVIDERS else _WORKSPACE_PROVIDER
        self.model_calls.labels(provider, "error" if result is None else "ok").inc()
        self.model_latency.labels(provider).observe(seconds)
        if result is not None:
            self.tokens.labels(provider, "input").inc(result.usage.prompt_tokens)
            self.tokens.labels(provider, "output").inc(result.usage.completion_tokens)

    def document_ingested(self, chunks: int) -> None:
        self.documents.inc()
        self.chunks.inc(chunks)

    def close(self) -> None:
        """In multi-process mode, take this process's gauges out of the sum (its counters
        and histograms stay: totals never go backwards). Not at exit: uvicorn workers end by
        re-raising SIGTERM, which skips atexit handlers."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    # -- database pool ---------------------------------------------------------------------

    def _watch_pool(self, db: Database) -> None:
        """Connections open and checked out, kept by pool events (a scrape-time read would
        see only the scraping worker's pool in multi-process mode)."""
        connections = Gauge(
            "codexos_db_pool_connections",
            "Database connections of this server: open, and in use (checked out)",
            ("state",),
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        in_use, opened = connections.labels("in_use"), connections.labels("open")
        pool = db.engine.sync_engine.pool
        size = getattr(pool, "size", None)
        if callable(size):  # a queue pool; SQLite in memory has none (NullPool)
            Gauge(
                "codexos_db_pool_size",
                "Connections the pool may hold",
                registry=self.registry,
                multiprocess_mode="livesum",
            ).set(size())
        target = db.engine.sync_engine
        event.listen(target, "checkout", lambda *_: in_use.inc())
        event.listen(target, "checkin", lambda *_: in_use.dec())
        event.listen(target, "connect", lambda *_: opened.inc())
        event.listen(target, "close", lambda *_: opened.dec())
        event.listen(target, "close_detached", lambda *_: opened.dec())


@contextmanager
def multiprocess_directory(workers: int) -> Iterator[str | None]:
    """For `codexos serve --workers N` (N > 1): a fresh multi-process directory for the
    worker processes, removed when the server stops. A directory the operator set in
    PROMETHEUS_MULTIPROC_DIR is used as it is (it must be empty when the server starts)."""
    configured = multiprocess_dir()
    if configured or workers <= 1:
        yield configured
        return
    path = tempfile.mkdtemp(prefix="codexos-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)
