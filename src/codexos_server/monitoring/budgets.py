"""Monthly token and cost budgets for a workspace, one of its API keys, or one of its agents.

A budget keeps `spent` for its `period` (UTC month), moved in the transaction that records
each finished run, under the budget's row lock. Crossing 80% publishes `budget.warning` and
crossing 100% `budget.exceeded` on the workspace channel, each once per period (the period
is stored on the budget in the same transaction). At or over 100%, new agent runs it covers
are refused with 429 RATE_LIMIT_EXCEEDED, `details` naming the budget, and `Retry-After`
the seconds until the month ends. A run already started finishes (its usage still counts).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.agents.models import Agent, Run
from codexos_server.auth.models import ApiKey
from codexos_server.auth.principal import Principal
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound, RateLimitExceeded, ValidationFailed
from codexos_server.events.bus import EventBus, workspace_channel
from codexos_server.monitoring.models import Budget, BudgetMetric, BudgetScope
from codexos_server.monitoring.schemas import BudgetCreate, BudgetOut, BudgetUpdate
from codexos_server.workspaces.permissions import Action

WARN_AT = 0.8


def period_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def seconds_to_next_month(moment: datetime) -> int:
    start = month_start(moment)
    following = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return max(1, int((following - moment).total_seconds()))


def spent_now(budget: Budget, period: str) -> float:
    return budget.spent if budget.period == period else 0.0


def run_amount(metric: str, tokens: int, cost: float) -> float:
    return float(tokens) if metric == BudgetMetric.TOKENS.value else float(cost)


def budget_out(budget: Budget) -> BudgetOut:
    period = period_of(utcnow())
    spent = spent_now(budget, period)
    return BudgetOut(
        id=budget.id,
        workspace_id=budget.workspace_id,
        scope=BudgetScope(budget.scope),
        scope_id=budget.scope_id,
        metric=BudgetMetric(budget.metric),
        limit=budget.limit,
        period=period,
        spent=round(spent, 6),
        used_fraction=round(spent / budget.limit, 4),
        created_at=budget.created_at,
        updated_at=budget.updated_at,
    )


def _covering(workspace_id: str, agent_id: str, api_key_id: str | None) -> Any:
    """The budgets a run of `agent_id` started with `api_key_id` counts against."""
    clauses = [
        Budget.scope == BudgetScope.WORKSPACE.value,
        (Budget.scope == BudgetScope.AGENT.value) & (Budget.scope_id == agent_id),
    ]
    if api_key_id:
        clauses.append(
            (Budget.scope == BudgetScope.API_KEY.value) & (Budget.scope_id == api_key_id)
        )
    return select(Budget).where(Budget.workspace_id == workspace_id, or_(*clauses))


class BudgetService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _scope_id(self, session: AsyncSession, actor: Principal, body: BudgetCreate) -> str:
        if body.scope is BudgetScope.WORKSPACE:
            if body.scope_id not in (None, actor.workspace_id):
                raise ValidationFailed(
                    "A workspace budget is for this workspace",
                    [{"field": "scope_id", "message": "omit it for a workspace budget"}],
                )
            return actor.workspace_id
        if not body.scope_id:
            raise ValidationFailed(
                "scope_id is required", [{"field": "scope_id", "message": "the key or agent id"}]
            )
        table = ApiKey if body.scope is BudgetScope.API_KEY else Agent
        found = await session.scalar(
            select(table.id).where(
                table.id == body.scope_id, table.workspace_id == actor.workspace_id
            )
        )
        if found is None:
            raise NotFound(body.scope.value.replace("_", " "), body.scope_id)
        return body.scope_id

    @staticmethod
    async def _spent_this_month(
        session: AsyncSession, workspace_id: str, scope: BudgetScope, scope_id: str, metric: str
    ) -> float:
        stmt = select(Run.usage, Run.cost).where(
            Run.workspace_id == workspace_id,
            Run.finished_at >= month_start(utcnow()),
        )
        if scope is BudgetScope.AGENT:
            stmt = stmt.where(Run.agent_id == scope_id)
        elif scope is BudgetScope.API_KEY:
            stmt = stmt.where(Run.api_key_id == scope_id)
        total = 0.0
        for usage, cost in (await session.execute(stmt)).all():
            total += run_amount(metric, int((usage or {}).get("total_tokens") or 0), cost or 0.0)
        return total

    async def create(self, actor: Principal, body: BudgetCreate) -> BudgetOut:
        """Starts counting this month's runs so far. Raises: NotFound, ValidationFailed,
        Conflict (the same scope and metric already has a budget)."""
        actor.require(Action.UPDATE_WORKSPACE)
        try:
            async with self.db.transaction() as session:
                scope_id = await self._scope_id(session, actor, body)
                budget = Budget(
                    workspace_id=actor.workspace_id,
                    created_by=actor.user_id,
                    scope=body.scope.value,
                    scope_id=scope_id,
                    metric=body.metric.value,
                    limit=body.limit,
                    period=period_of(utcnow()),
                    spent=await self._spent_this_month(
                        session, actor.workspace_id, body.scope, scope_id, body.metric.value
                    ),
                )
                session.add(budget)
                await session.flush()
                return budget_out(budget)
        except IntegrityError as exc:
            raise Conflict("A budget for this scope and metric exists; update its limit") from exc

    async def list(self, actor: Principal) -> builtins.list[BudgetOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Budget)
                .where(Budget.workspace_id == actor.workspace_id)
                .order_by(Budget.created_at, Budget.id)
            )
            return [budget_out(row) for row in rows]

    async def _own(self, session: AsyncSession, actor: Principal, budget_id: str) -> Budget:
        row = await session.scalar(
            select(Budget).where(Budget.id == budget_id, Budget.workspace_id == actor.workspace_id)
        )
        if row is None:
            raise NotFound("budget", budget_id)
        return row

    async def update(self, actor: Principal, budget_id: str, body: BudgetUpdate) -> BudgetOut:
        actor.require(Action.UPDATE_WORKSPACE)
        async with self.db.transaction() as session:
            row = await self._own(session, actor, budget_id)
            row.limit = body.limit
            row.updated_at = utcnow()
            await session.flush()
            return budget_out(row)

    async def delete(self, actor: Principal, budget_id: str) -> None:
        actor.require(Action.UPDATE_WORKSPACE)
        async with self.db.transaction() as session:
            await session.delete(await self._own(session, actor, budget_id))


class RunBudgets:
    """The agents' RunBudgets port: refuse runs over budget, count finished runs."""

    def __init__(self, events: EventBus) -> None:
        self.events = events

    async def check(
        self, session: AsyncSession, workspace_id: str, agent_id: str, api_key_id: str | None
    ) -> None:
        now = utcnow()
        period = period_of(now)
        for budget in await session.scalars(_covering(workspace_id, agent_id, api_key_id)):
            spent = spent_now(budget, period)
            if spent >= budget.limit:
                raise RateLimitExceeded(
                    f"The monthly {budget.metric} budget of this {budget.scope} is used up",
                    seconds_to_next_month(now),
                    {
                        "budget_id": budget.id,
                        "scope": budget.scope,
                        "scope_id": budget.scope_id,
                        "metric": budget.metric,
                        "limit": budget.limit,
                        "spent": round(spent, 6),
                        "period": period,
                    },
                )

    async def record(self, session: AsyncSession, run: Run) -> builtins.list[dict[str, Any]]:
        """Count a finished run; returns the events to publish once the transaction commits."""
        tokens = int((run.usage or {}).get("total_tokens") or 0)
        if tokens == 0 and not run.cost:
            return []
        period = period_of(utcnow())
        events: builtins.list[dict[str, Any]] = []
        stmt = _covering(run.workspace_id, run.agent_id, run.api_key_id).with_for_update()
        for budget in await session.scalars(stmt.execution_options(populate_existing=True)):
            before = spent_now(budget, period)
            after = before + run_amount(budget.metric, tokens, run.cost or 0.0)
            budget.period, budget.spent = period, after
            for name, threshold, field in (
                ("budget.warning", WARN_AT * budget.limit, "warned_period"),
                ("budget.exceeded", budget.limit, "exceeded_period"),
            ):
                if before < threshold <= after and getattr(budget, field) != period:
                    setattr(budget, field, period)
                    events.append(
                        {
                            "type": name,
                            "budget_id": budget.id,
                            "workspace_id": budget.workspace_id,
                            "scope": budget.scope,
                            "scope_id": budget.scope_id,
                            "metric": budget.metric,
                            "limit": budget.limit,
                            "spent": round(after, 6),
                            "period": period,
                        }
                    )
        return events

    async def publish(self, events: builtins.list[dict[str, Any]]) -> None:
        for event in events:
            await self.events.publish(
                workspace_channel(event["workspace_id"]),
                event["type"],
                {k: v for k, v in event.items() if k != "type"},
            )
