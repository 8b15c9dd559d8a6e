"""Workflow endpoints: definitions, versions, validation, export/import, runs, approvals."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.errors import PayloadTooLarge, ValidationFailed
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep
from codexos_server.sse import ResumeAfter, sse_response
from codexos_server.workflows.models import RunStatus
from codexos_server.workflows.runs import WorkflowRunService
from codexos_server.workflows.schemas import (
    ApprovalDecision,
    ApprovalOut,
    RunCreate,
    ValidateRequest,
    ValidateResponse,
    WorkflowCreate,
    WorkflowOut,
    WorkflowRunDetail,
    WorkflowRunOut,
    WorkflowUpdate,
    WorkflowVersionOut,
)
from codexos_server.workflows.service import WorkflowService, checked_spec

router = APIRouter(tags=["workflows"])

MAX_IMPORT_BYTES = 2 * 1024 * 1024


async def _workflows(request: Request) -> WorkflowService:
    return get_container(request).workflows


async def _runs(request: Request) -> WorkflowRunService:
    return get_container(request).workflow_runs


WorkflowServiceDep = Annotated[WorkflowService, Depends(_workflows)]
RunServiceDep = Annotated[WorkflowRunService, Depends(_runs)]
Reader = Annotated[Principal, scoped("workflows:read")]
Writer = Annotated[Principal, scoped("workflows:write")]
Executor = Annotated[Principal, scoped("workflows:execute")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=200, description="Same key + same inputs → same run"
    ),
]


@router.post(
    "/workflows",
    status_code=status.HTTP_201_CREATED,
    operation_id="workflows_create",
    summary="Create a workflow",
    responses=errors(403, 422),
)
async def create_workflow(
    body: WorkflowCreate, workflows: WorkflowServiceDep, principal: Writer
) -> WorkflowOut:
    """The spec is validated first; every problem is listed in the error's `details`."""
    return await workflows.create(principal, body)


@router.get("/workflows", operation_id="workflows_list", summary="List workflows")
async def list_workflows(
    workflows: WorkflowServiceDep, page: PageParamsDep, principal: Reader
) -> Page[WorkflowOut]:
    return await workflows.list(principal, page)


@router.post(
    "/workflows/validate",
    operation_id="workflows_validate",
    summary="Validate a workflow spec without saving it",
    responses=errors(422),
)
async def validate_workflow(body: ValidateRequest, principal: Reader) -> ValidateResponse:
    """200 when the spec is valid; otherwise 422 with every problem (node id, field, code,
    message) in `details`."""
    checked_spec(body.spec)
    return ValidateResponse(valid=True, problems=[])


@router.post(
    "/workflows/import",
    status_code=status.HTTP_201_CREATED,
    operation_id="workflows_import",
    summary="Import a workflow from its JSON or YAML export",
    responses=errors(403, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_workflow(
    request: Request, workflows: WorkflowServiceDep, principal: Writer
) -> WorkflowOut:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_IMPORT_BYTES:
            raise PayloadTooLarge(f"The export is larger than {MAX_IMPORT_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "The export is not UTF-8 text", [{"field": "body", "message": str(exc)}]
        ) from exc
    return await workflows.import_(principal, text)


@router.get(
    "/workflows/{workflow_id}",
    operation_id="workflows_get",
    summary="Get a workflow",
    responses=errors(404),
)
async def get_workflow(
    workflow_id: str, workflows: WorkflowServiceDep, principal: Reader
) -> WorkflowOut:
    return await workflows.get(principal, workflow_id)


@router.patch(
    "/workflows/{workflow_id}",
    operation_id="workflows_update",
    summary="Update a workflow (a new spec is a new version)",
    responses=errors(403, 404, 422),
)
async def update_workflow(
    workflow_id: str, body: WorkflowUpdate, workflows: WorkflowServiceDep, principal: Writer
) -> WorkflowOut:
    return await workflows.update(principal, workflow_id, body)


@router.delete(
    "/workflows/{workflow_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="workflows_delete",
    summary="Delete a workflow with its runs",
    responses=errors(403, 404),
)
async def delete_workflow(
    workflow_id: str, workflows: WorkflowServiceDep, principal: Writer
) -> None:
    await workflows.delete(principal, workflow_id)


@router.get(
    "/workflows/{workflow_id}/versions",
    operation_id="workflows_versions",
    summary="List a workflow's versions (newest first)",
    responses=errors(404),
)
async def list_versions(
    workflow_id: str, workflows: WorkflowServiceDep, principal: Reader
) -> list[WorkflowVersionOut]:
    return await workflows.versions(principal, workflow_id)


@router.get(
    "/workflows/{workflow_id}/export",
    operation_id="workflows_export",
    summary="Export a workflow as JSON or YAML",
    response_class=PlainTextResponse,
    responses={200: {"content": {"application/json": {}, "application/yaml": {}}}, **errors(404)},
)
async def export_workflow(
    workflow_id: str,
    workflows: WorkflowServiceDep,
    principal: Reader,
    format: Annotated[Literal["json", "yaml"], Query()] = "json",
) -> PlainTextResponse:
    text = await workflows.export(principal, workflow_id, format)
    media = "application/yaml" if format == "yaml" else "application/json"
    filename = f"workflow-{workflow_id}.{format}"
    return PlainTextResponse(
        text,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- runs ---------------------------------------------------------------------------------


@router.post(
    "/workflows/{workflow_id}/runs",
    status_code=status.HTTP_201_CREATED,
    operation_id="workflows_run",
    summary="Start a run",
    responses={
        200: {
            "model": WorkflowRunOut,
            "description": "An earlier run with the same Idempotency-Key",
        },
        **errors(403, 404, 409, 422),
    },
)
async def start_run(
    workflow_id: str,
    runs: RunServiceDep,
    principal: Executor,
    idempotency_key: IdempotencyKey = None,
    body: RunCreate | None = None,
) -> Any:
    """The run starts at once; follow it with `GET /workflow-runs/{id}` or its events."""
    out, created = await runs.start(
        principal, workflow_id, (body or RunCreate()).inputs, idempotency_key
    )
    if created:
        return out
    return JSONResponse(out.model_dump(mode="json"), status_code=status.HTTP_200_OK)


@router.get(
    "/workflows/{workflow_id}/runs", operation_id="workflows_runs", summary="List a workflow's runs"
)
async def list_workflow_runs(
    workflow_id: str,
    runs: RunServiceDep,
    page: PageParamsDep,
    principal: Reader,
    status: Annotated[RunStatus | None, Query()] = None,
) -> Page[WorkflowRunOut]:
    return await runs.list(principal, page, workflow_id=workflow_id, status=status)


@router.get("/workflow-runs", operation_id="workflow_runs_list", summary="List workflow runs")
async def list_runs(
    runs: RunServiceDep,
    page: PageParamsDep,
    principal: Reader,
    workflow_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[RunStatus | None, Query()] = None,
    trigger: Annotated[Literal["api", "schedule", "webhook", "rerun"] | None, Query()] = None,
    parent_run_id: Annotated[
        str | None, Query(max_length=64, description="List a run's map items")
    ] = None,
) -> Page[WorkflowRunOut]:
    return await runs.list(
        principal,
        page,
        workflow_id=workflow_id,
        status=status,
        trigger=trigger,
        parent_run_id=parent_run_id,
    )


@router.get(
    "/workflow-runs/{run_id}",
    operation_id="workflow_runs_get",
    summary="Get a run with its node states and approvals",
    responses=errors(404),
)
async def get_run(run_id: str, runs: RunServiceDep, principal: Reader) -> WorkflowRunDetail:
    return await runs.get(principal, run_id)


@router.post(
    "/workflow-runs/{run_id}/cancel",
    operation_id="workflow_runs_cancel",
    summary="Cancel a run",
    responses=errors(403, 404),
)
async def cancel_run(run_id: str, runs: RunServiceDep, principal: Executor) -> WorkflowRunOut:
    return await runs.cancel(principal, run_id)


@router.post(
    "/workflow-runs/{run_id}/resume",
    operation_id="workflow_runs_resume",
    summary="Resume a failed run from its failed node",
    responses=errors(403, 404, 409),
)
async def resume_run(run_id: str, runs: RunServiceDep, principal: Executor) -> WorkflowRunOut:
    return await runs.resume(principal, run_id)


@router.post(
    "/workflow-runs/{run_id}/rerun",
    status_code=status.HTTP_201_CREATED,
    operation_id="workflow_runs_rerun",
    summary="Run the same workflow version again with the same inputs",
    responses=errors(403, 404, 409),
)
async def rerun(run_id: str, runs: RunServiceDep, principal: Executor) -> WorkflowRunOut:
    return await runs.rerun(principal, run_id)


@router.get(
    "/workflow-runs/{run_id}/events",
    operation_id="workflow_runs_events",
    summary="Stream a run's events (SSE)",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}}}, **errors(404)},
)
async def run_events(
    run_id: str,
    runs: RunServiceDep,
    principal: Reader,
    start: ResumeAfter,
) -> Any:
    """Node and run events, replaying the buffered ones after `Last-Event-ID` (or
    `after_seq`); ends with the run's final `run.<status>` event."""
    return sse_response(await runs.events_of(principal, run_id, start))


@router.get(
    "/workflow-approvals",
    operation_id="workflow_approvals_pending",
    summary="List the workspace's pending approvals",
)
async def pending_approvals(
    runs: RunServiceDep, page: PageParamsDep, principal: Reader
) -> Page[ApprovalOut]:
    return await runs.pending_approvals(principal, page)


@router.post(
    "/workflow-runs/{run_id}/approvals/{node_id}/approve",
    operation_id="workflow_runs_approve",
    summary="Approve a pending human_approval node",
    responses=errors(403, 404, 409),
)
async def approve(
    run_id: str,
    node_id: str,
    runs: RunServiceDep,
    principal: Executor,
    body: ApprovalDecision | None = None,
) -> ApprovalOut:
    return await runs.decide(principal, run_id, node_id, True, (body or ApprovalDecision()).comment)


@router.post(
    "/workflow-runs/{run_id}/approvals/{node_id}/reject",
    operation_id="workflow_runs_reject",
    summary="Reject a pending human_approval node",
    responses=errors(403, 404, 409),
)
async def reject(
    run_id: str,
    node_id: str,
    runs: RunServiceDep,
    principal: Executor,
    body: ApprovalDecision | None = None,
) -> ApprovalOut:
    return await runs.decide(
        principal, run_id, node_id, False, (body or ApprovalDecision()).comment
    )
