"""Workflow trigger endpoints: cron schedules, inbound webhooks (hooks) and outbound webhook
targets with their delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, status

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.errors import PayloadTooLarge
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep
from codexos_server.workflows.hooks import MAX_HOOK_BODY_BYTES, HookService
from codexos_server.workflows.schedules import ScheduleService
from codexos_server.workflows.schemas import (
    DeliveryOut,
    HookOut,
    ScheduleCreate,
    ScheduleOut,
    WebhookTarget,
)
from codexos_server.workflows.trigger_schemas import (
    HookAccepted,
    ScheduleUpdate,
    WebhookTargetCreatedOut,
    WebhookTargetOut,
)
from codexos_server.workflows.webhooks import WebhookService

router = APIRouter(tags=["workflow triggers"])


async def _schedules(request: Request) -> ScheduleService:
    return get_container(request).workflow_schedules


async def _hooks(request: Request) -> HookService:
    return get_container(request).workflow_hooks


async def _webhooks(request: Request) -> WebhookService:
    return get_container(request).workflow_webhooks


ScheduleServiceDep = Annotated[ScheduleService, Depends(_schedules)]
HookServiceDep = Annotated[HookService, Depends(_hooks)]
WebhookServiceDep = Annotated[WebhookService, Depends(_webhooks)]
Reader = Annotated[Principal, scoped("workflows:read")]
Writer = Annotated[Principal, scoped("workflows:write")]


# -- schedules ------------------------------------------------------------------------------


@router.post(
    "/workflows/{workflow_id}/schedules",
    status_code=status.HTTP_201_CREATED,
    operation_id="workflows_schedules_create",
    summary="Schedule a workflow with cron",
    responses=errors(403, 404, 422),
)
async def create_schedule(
    workflow_id: str, body: ScheduleCreate, schedules: ScheduleServiceDep, principal: Writer
) -> ScheduleOut:
    """Standard five-field cron, matched in `timezone` (IANA, default UTC); each slot fires
    once however many servers run. After downtime the earliest missed slot fires once and
    the others are skipped."""
    return await schedules.create(principal, workflow_id, body)


@router.get(
    "/workflows/{workflow_id}/schedules",
    operation_id="workflows_schedules_list",
    summary="List a workflow's schedules",
    responses=errors(404),
)
async def list_schedules(
    workflow_id: str, schedules: ScheduleServiceDep, page: PageParamsDep, principal: Reader
) -> Page[ScheduleOut]:
    return await schedules.list(principal, workflow_id, page)


@router.get(
    "/workflows/{workflow_id}/schedules/{schedule_id}",
    operation_id="workflows_schedules_get",
    summary="Get a schedule",
    responses=errors(404),
)
async def get_schedule(
    workflow_id: str, schedule_id: str, schedules: ScheduleServiceDep, principal: Reader
) -> ScheduleOut:
    return await schedules.get(principal, workflow_id, schedule_id)


@router.patch(
    "/workflows/{workflow_id}/schedules/{schedule_id}",
    operation_id="workflows_schedules_update",
    summary="Change, enable or disable a schedule",
    responses=errors(403, 404, 422),
)
async def update_schedule(
    workflow_id: str,
    schedule_id: str,
    body: ScheduleUpdate,
    schedules: ScheduleServiceDep,
    principal: Writer,
) -> ScheduleOut:
    return await schedules.update(principal, workflow_id, schedule_id, body)


@router.delete(
    "/workflows/{workflow_id}/schedules/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="workflows_schedules_delete",
    summary="Delete a schedule",
    responses=errors(403, 404),
)
async def delete_schedule(
    workflow_id: str, schedule_id: str, schedules: ScheduleServiceDep, principal: Writer
) -> None:
    await schedules.delete(principal, workflow_id, schedule_id)


# -- inbound webhooks -----------------------------------------------------------------------


@router.post(
    "/workflows/{workflow_id}/hooks",
    status_code=status.HTTP_201_CREATED,
    operation_id="workflows_hooks_create",
    summary="Create an inbound webhook for a workflow",
    responses=errors(403, 404),
)
async def create_hook(workflow_id: str, hooks: HookServiceDep, principal: Writer) -> HookOut:
    """The answer holds the hook's `url` and signing `secret`; neither is shown again."""
    return await hooks.create(principal, workflow_id)


@router.get(
    "/workflows/{workflow_id}/hooks",
    operation_id="workflows_hooks_list",
    summary="List a workflow's inbound webhooks",
    responses=errors(404),
)
async def list_hooks(
    workflow_id: str, hooks: HookServiceDep, page: PageParamsDep, principal: Reader
) -> Page[HookOut]:
    return await hooks.list(principal, workflow_id, page)


@router.delete(
    "/workflows/{workflow_id}/hooks/{hook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="workflows_hooks_delete",
    summary="Delete an inbound webhook",
    responses=errors(403, 404),
)
async def delete_hook(
    workflow_id: str, hook_id: str, hooks: HookServiceDep, principal: Writer
) -> None:
    await hooks.delete(principal, workflow_id, hook_id)


@router.post(
    "/hooks/{token}",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="hooks_receive",
    summary="Start a run from a signed webhook request (no bearer token)",
    responses=errors(401, 404, 409, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_hook(
    token: str,
    request: Request,
    hooks: HookServiceDep,
    timestamp: Annotated[
        str | None, Header(alias="X-CodexOS-Timestamp", description="Unix seconds")
    ] = None,
    signature: Annotated[
        str | None,
        Header(
            alias="X-CodexOS-Signature",
            description='"sha256=" + hex HMAC-SHA256(secret, "{timestamp}." + body)',
        ),
    ] = None,
) -> HookAccepted:
    """The JSON object body becomes the run's inputs. Refused: a bad or missing signature
    or a timestamp outside the replay window (401), a request already accepted (409)."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_HOOK_BODY_BYTES:
            raise PayloadTooLarge(f"A webhook body may be at most {MAX_HOOK_BODY_BYTES} bytes")
    headers = {"x-codexos-timestamp": timestamp or "", "x-codexos-signature": signature or ""}
    return await hooks.receive(token, bytes(body), headers)


# -- outbound webhooks ----------------------------------------------------------------------


@router.post(
    "/workflows/{workflow_id}/webhooks",
    status_code=status.HTTP_201_CREATED,
    operation_id="workflows_webhooks_create",
    summary="Add an outbound webhook: POST run outcomes to a URL",
    responses=errors(403, 404, 422),
)
async def create_webhook(
    workflow_id: str, body: WebhookTarget, webhooks: WebhookServiceDep, principal: Writer
) -> WebhookTargetCreatedOut:
    """Deliveries are signed like inbound hooks (`X-CodexOS-Signature`) with the `secret`
    in this answer, which is not shown again, and retried with backoff until accepted."""
    return await webhooks.add(principal, workflow_id, body)


@router.get(
    "/workflows/{workflow_id}/webhooks",
    operation_id="workflows_webhooks_list",
    summary="List a workflow's outbound webhooks",
    responses=errors(404),
)
async def list_webhooks(
    workflow_id: str, webhooks: WebhookServiceDep, principal: Reader
) -> list[WebhookTargetOut]:
    return await webhooks.list(principal, workflow_id)


@router.get(
    "/workflows/{workflow_id}/webhooks/deliveries",
    operation_id="workflows_webhooks_deliveries",
    summary="List outbound webhook delivery attempts",
    responses=errors(404),
)
async def list_deliveries(
    workflow_id: str,
    webhooks: WebhookServiceDep,
    page: PageParamsDep,
    principal: Reader,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[DeliveryOut]:
    return await webhooks.deliveries(principal, workflow_id, page, run_id)


@router.delete(
    "/workflows/{workflow_id}/webhooks/{target_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="workflows_webhooks_delete",
    summary="Delete an outbound webhook",
    responses=errors(403, 404),
)
async def delete_webhook(
    workflow_id: str, target_id: str, webhooks: WebhookServiceDep, principal: Writer
) -> None:
    await webhooks.delete(principal, workflow_id, target_id)
