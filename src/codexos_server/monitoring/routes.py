"""Monitoring endpoints: workspace metrics, agent stats, usage (JSON or CSV), system status
for admins, and budgets."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.monitoring.budgets import BudgetService
from codexos_server.monitoring.schemas import (
    AgentStats,
    BudgetCreate,
    BudgetOut,
    BudgetUpdate,
    MetricsSummary,
    SystemStatus,
    UsageReport,
    Window,
)
from codexos_server.monitoring.service import MonitoringService, usage_csv
from codexos_server.monitoring.system import SystemService
from codexos_server.openapi import errors

router = APIRouter(prefix="/monitoring", tags=["monitoring"])


async def _monitoring(request: Request) -> MonitoringService:
    return get_container(request).monitoring


async def _system(request: Request) -> SystemService:
    return get_container(request).system


async def _budgets(request: Request) -> BudgetService:
    return get_container(request).budgets


MonitoringDep = Annotated[MonitoringService, Depends(_monitoring)]
SystemDep = Annotated[SystemService, Depends(_system)]
BudgetsDep = Annotated[BudgetService, Depends(_budgets)]
Reader = Annotated[Principal, scoped("monitoring:read")]
Writer = Annotated[Principal, scoped("monitoring:write")]
Admin = Annotated[Principal, scoped("admin")]
WindowQuery = Annotated[Window, Query(description="1h, 24h, 7d or 30d")]


@router.get(
    "/metrics",
    operation_id="monitoring_metrics",
    summary="Your workspace's requests, errors, latency, runs, tokens and cost over a window",
)
async def get_metrics(
    monitoring: MonitoringDep, principal: Reader, window: WindowQuery = "24h"
) -> MetricsSummary:
    """Percentiles are nearest-rank over the stored request and run records (roll-ups per
    minute plus the latest raw records), within 2%."""
    return await monitoring.summary(principal, window)


@router.get(
    "/agents/{agent_id}/stats",
    operation_id="monitoring_agent_stats",
    summary="An agent's runs, success rate, latency percentiles, tokens and cost per day",
    responses=errors(404),
)
async def get_agent_stats(
    agent_id: str, monitoring: MonitoringDep, principal: Reader, window: WindowQuery = "7d"
) -> AgentStats:
    return await monitoring.agent_stats(principal, agent_id, window)


@router.get(
    "/usage",
    operation_id="monitoring_usage",
    summary="Tokens and cost by day, agent, API key and model (JSON or CSV)",
    response_model=UsageReport,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_usage(
    monitoring: MonitoringDep,
    principal: Reader,
    window: WindowQuery = "30d",
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    report = await monitoring.usage(principal, window)
    if format == "csv":
        return PlainTextResponse(
            usage_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="usage.csv"'},
        )
    return JSONResponse(report.model_dump(mode="json"))


@router.get(
    "/system",
    operation_id="monitoring_system",
    summary="Version, uptime, dependencies, queues, workers and memory (admin)",
    responses=errors(403),
)
async def get_system(system: SystemDep, principal: Admin) -> SystemStatus:
    return await system.status(principal)


@router.get("/budgets", operation_id="monitoring_budgets_list", summary="Your workspace's budgets")
async def list_budgets(budgets: BudgetsDep, principal: Reader) -> list[BudgetOut]:
    return await budgets.list(principal)


@router.post(
    "/budgets",
    status_code=status.HTTP_201_CREATED,
    operation_id="monitoring_budgets_create",
    summary="Set a monthly token or cost budget (workspace admins)",
    responses=errors(403, 404, 409, 422),
)
async def create_budget(body: BudgetCreate, budgets: BudgetsDep, principal: Writer) -> BudgetOut:
    """For the workspace, one API key or one agent. At 80% a `budget.warning` event, at 100%
    `budget.exceeded`, and runs it covers answer 429 RATE_LIMIT_EXCEEDED until the month ends
    or the limit is raised."""
    return await budgets.create(principal, body)


@router.patch(
    "/budgets/{budget_id}",
    operation_id="monitoring_budgets_update",
    summary="Change a budget's limit",
    responses=errors(403, 404, 422),
)
async def update_budget(
    budget_id: str, body: BudgetUpdate, budgets: BudgetsDep, principal: Writer
) -> BudgetOut:
    return await budgets.update(principal, budget_id, body)


@router.delete(
    "/budgets/{budget_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="monitoring_budgets_delete",
    summary="Remove a budget",
    responses=errors(403, 404),
)
async def delete_budget(budget_id: str, budgets: BudgetsDep, principal: Writer) -> Response:
    await budgets.delete(principal, budget_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
