"""`GET /metrics`: the Prometheus scrape, protected by `CODEXOS_METRICS_TOKEN`.

Outside `/api/v1` and the OpenAPI document: it is for the operator's Prometheus, not for API
clients. The rate limiter exempts it (app.py), and the scraper's bearer token is not a user
credential: the authentication middleware only records that it is not one.

Besides what `PrometheusMetrics` counted, each scrape reads values that are cheap to read
and the same from every process (the job queue depth, from the job table).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from codexos_server import __version__
from codexos_server.container import get_container
from codexos_server.db.database import Database
from codexos_server.errors import AuthenticationFailed, NotFound
from codexos_server.jobs.models import Job, JobStatus
from codexos_server.jobs.registry import JOB_KINDS
from codexos_server.log import get_logger
from codexos_server.monitoring.prometheus import PrometheusMetrics

log = get_logger("codexos.metrics")

METRICS_PATH = "/metrics"
_QUEUE_STATUSES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)

router = APIRouter()


@router.get(METRICS_PATH, include_in_schema=False)
async def scrape(request: Request) -> Response:
    """Every metric in the Prometheus text format (version 0.0.4)."""
    container = get_container(request)
    check_token(request.headers.get("authorization"), container.settings.metrics_token)
    metrics = container.metrics
    if not isinstance(metrics, PrometheusMetrics):  # monitoring off: nothing was collected
        raise NotFound("metrics")
    families = [build_info(), *await queue_depth(container.db)]
    return Response(render(metrics, families), media_type=CONTENT_TYPE_PLAIN_0_0_4)


def check_token(authorization: str | None, expected: SecretStr | None) -> None:
    """Raises: AuthenticationFailed unless `Authorization: Bearer <expected>`."""
    if expected is None or not expected.get_secret_value():
        raise AuthenticationFailed(
            "Scraping /metrics is disabled: set CODEXOS_METRICS_TOKEN and send it as "
            "'Authorization: Bearer <token>'"
        )
    scheme, _, given = (authorization or "").partition(" ")
    # Digests compare in constant time whatever the lengths.
    given_digest = hashlib.sha256(given.strip().encode()).digest()
    expected_digest = hashlib.sha256(expected.get_secret_value().encode()).digest()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given_digest, expected_digest):
        raise AuthenticationFailed("Invalid or missing metrics token")


def render(metrics: PrometheusMetrics, families: Sequence[Metric]) -> bytes:
    """The text exposition: this process's registry, or every process's files in
    multi-process mode, plus the families computed for this scrape."""
    registry = CollectorRegistry(auto_describe=False)
    if metrics.multiprocess:
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(metrics.registry)
    registry.register(_Fixed(families))
    return generate_latest(registry)


class _Fixed:
    """A collector of families computed before the scrape."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def build_info() -> GaugeMetricFamily:
    info = GaugeMetricFamily(
        "codexos_build_info", "The running CodexOS version (always 1)", labels=["version"]
    )
    info.add_metric([__version__], 1)
    return info


async def queue_depth(db: Database) -> list[Metric]:
    """Queued and running jobs by kind, from the job table (the same answer on every node).
    Registered kinds are reported even at zero, so their series do not come and go."""
    stmt = (
        select(Job.kind, Job.status, func.count())
        .where(Job.status.in_(_QUEUE_STATUSES))
        .group_by(Job.kind, Job.status)
    )
    try:
        async with db.read_connection() as conn:
            rows = (await conn.execute(stmt)).all()
    except (SQLAlchemyError, OSError) as exc:  # the scrape still reports everything else
        log.warning("job queue depth unavailable", error=type(exc).__name__)
        return []
    depth = {(kind, status): 0 for kind in JOB_KINDS for status in _QUEUE_STATUSES}
    for kind, status, count in rows:
        depth[(kind, status)] = int(count)
    family = GaugeMetricFamily(
        "codexos_job_queue_depth",
        "Jobs waiting (queued, including those waiting for a retry delay) and running",
        labels=["kind", "status"],
    )
    for (kind, status), count in sorted(depth.items()):
        family.add_metric([kind, status], count)
    return [family]
