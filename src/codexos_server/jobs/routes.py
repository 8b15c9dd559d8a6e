"""Job endpoints: read and cancel the background work of your workspace."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.jobs.models import JobStatus
from codexos_server.jobs.schemas import JobOut
from codexos_server.jobs.service import JobService
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep

router = APIRouter(prefix="/jobs", tags=["jobs"])


async def _jobs(request: Request) -> JobService:
    return get_container(request).jobs


JobServiceDep = Annotated[JobService, Depends(_jobs)]


@router.get("", operation_id="jobs_list", summary="List jobs", responses=errors(403))
async def list_jobs(
    jobs: JobServiceDep,
    page: PageParamsDep,
    principal: Annotated[Principal, scoped("jobs:read")],
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status")] = None,
    kind: Annotated[str | None, Query(max_length=100, description="Only jobs of this kind")] = None,
) -> Page[JobOut]:
    return await jobs.list(principal, page, status, kind)


@router.get("/{job_id}", operation_id="jobs_get", summary="Get a job", responses=errors(403, 404))
async def get_job(
    job_id: str, jobs: JobServiceDep, principal: Annotated[Principal, scoped("jobs:read")]
) -> JobOut:
    return await jobs.get(principal, job_id)


@router.post(
    "/{job_id}/cancel",
    operation_id="jobs_cancel",
    summary="Cancel a job",
    responses=errors(403, 404),
)
async def cancel_job(
    job_id: str, jobs: JobServiceDep, principal: Annotated[Principal, scoped("jobs:write")]
) -> JobOut:
    """A queued job is cancelled at once; a running one is asked to stop and its handler
    sees the request between steps (status stays `running` until it does)."""
    return await jobs.cancel(principal, job_id)
