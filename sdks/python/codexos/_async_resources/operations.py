"""Billing, monitoring, jobs and OAuth apps."""

from __future__ import annotations

import builtins
from typing import Any

from codexos._core import compact
from codexos._resource import AsyncResource
from codexos.pagination import AsyncPaginator
from codexos.types import (
    AgentStats,
    Budget,
    Checkout,
    Earnings,
    Job,
    MetricsSummary,
    OAuthApp,
    OAuthAppWithSecret,
    OAuthAuthorization,
    SystemStatus,
    Transaction,
    UsageReport,
    Wallet,
)


class AsyncBilling(AsyncResource):
    async def wallet(self) -> Wallet:
        return await self._client._call(Wallet, "GET", "/billing/wallet")

    def transactions(self, *, limit: int | None = None) -> AsyncPaginator[Transaction]:
        return self._client._list(Transaction, "/billing/transactions", compact(limit=limit))

    async def retrieve_transaction(self, transaction_id: str) -> Transaction:
        path = f"/billing/transactions/{transaction_id}"
        return await self._client._call(Transaction, "GET", path)

    async def grant(
        self,
        workspace_id: str,
        credits: int,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Add credits to a workspace's wallet (admins); retries reuse one Idempotency-Key."""
        body = compact(workspace_id=workspace_id, credits=credits, reason=reason)
        return await self._client._call_idempotent(
            Transaction, "/billing/grants", idempotency_key, body
        )

    async def earnings(
        self, *, period: str | None = None, since: str | None = None, until: str | None = None
    ) -> Earnings:
        params = compact(period=period, since=since, until=until)
        return await self._client._call(Earnings, "GET", "/billing/earnings", params=params)

    async def refund(self, transaction_id: str, *, reason: str | None = None) -> Transaction:
        """Reverse a transaction (admins); the answer is the refund transaction."""
        path = f"/billing/transactions/{transaction_id}/refund"
        body = compact(reason=reason)
        return await self._client._call(Transaction, "POST", path, json_body=body)

    async def checkout(self, credits: int, success_url: str, cancel_url: str) -> Checkout:
        """A Stripe Checkout session buying `credits`; send the user to `.url`. Raises
        `ServiceUnavailableError` (503) when the server has no Stripe configuration."""
        body = {"credits": credits, "success_url": success_url, "cancel_url": cancel_url}
        return await self._client._call(Checkout, "POST", "/billing/checkout", json_body=body)


class AsyncMonitoring(AsyncResource):
    async def system(self) -> SystemStatus:
        """Version, uptime, database/Redis/broker checks, queue and workers (admins)."""
        return await self._client._call(SystemStatus, "GET", "/monitoring/system")

    async def metrics(self, *, window: str | None = None) -> MetricsSummary:
        params = compact(window=window)
        return await self._client._call(MetricsSummary, "GET", "/monitoring/metrics", params=params)

    async def agent_stats(self, agent_id: str, *, window: str | None = None) -> AgentStats:
        path = f"/monitoring/agents/{agent_id}/stats"
        return await self._client._call(AgentStats, "GET", path, params=compact(window=window))

    async def usage(self, *, window: str | None = None) -> UsageReport:
        params = compact(window=window)
        return await self._client._call(UsageReport, "GET", "/monitoring/usage", params=params)

    async def budgets(self) -> builtins.list[Budget]:
        return await self._client._call_list(Budget, "GET", "/monitoring/budgets")

    async def create_budget(
        self,
        metric: str,
        limit: float,
        *,
        scope: str | None = None,
        scope_id: str | None = None,
    ) -> Budget:
        body = compact(metric=metric, limit=limit, scope=scope, scope_id=scope_id)
        return await self._client._call(Budget, "POST", "/monitoring/budgets", json_body=body)

    async def update_budget(self, budget_id: str, **fields: Any) -> Budget:
        path = f"/monitoring/budgets/{budget_id}"
        return await self._client._call(Budget, "PATCH", path, json_body=fields)

    async def delete_budget(self, budget_id: str) -> None:
        await self._client._call_none("DELETE", f"/monitoring/budgets/{budget_id}")


class AsyncJobs(AsyncResource):
    def list(
        self, *, status: str | None = None, kind: str | None = None, limit: int | None = None
    ) -> AsyncPaginator[Job]:
        return self._client._list(Job, "/jobs", compact(status=status, kind=kind, limit=limit))

    async def retrieve(self, job_id: str) -> Job:
        return await self._client._call(Job, "GET", f"/jobs/{job_id}")

    async def cancel(self, job_id: str) -> Job:
        return await self._client._call(Job, "POST", f"/jobs/{job_id}/cancel")


class AsyncOAuthApps(AsyncResource):
    async def create(
        self,
        name: str,
        redirect_uris: list[str],
        scopes: list[str],
        *,
        client_type: str | None = None,
    ) -> OAuthAppWithSecret:
        """Register an app; a confidential app's `client_secret` is shown only here."""
        body = compact(
            name=name, redirect_uris=redirect_uris, scopes=scopes, client_type=client_type
        )
        return await self._client._call(OAuthAppWithSecret, "POST", "/oauth/apps", json_body=body)

    async def list(self) -> builtins.list[OAuthApp]:
        return await self._client._call_list(OAuthApp, "GET", "/oauth/apps")

    async def retrieve(self, app_id: str) -> OAuthApp:
        return await self._client._call(OAuthApp, "GET", f"/oauth/apps/{app_id}")

    async def update(self, app_id: str, **fields: Any) -> OAuthApp:
        return await self._client._call(
            OAuthApp, "PATCH", f"/oauth/apps/{app_id}", json_body=fields
        )

    async def delete(self, app_id: str) -> None:
        await self._client._call_none("DELETE", f"/oauth/apps/{app_id}")

    async def rotate_secret(self, app_id: str) -> OAuthAppWithSecret:
        path = f"/oauth/apps/{app_id}/rotate-secret"
        return await self._client._call(OAuthAppWithSecret, "POST", path)

    async def authorizations(self) -> builtins.list[OAuthAuthorization]:
        """The apps you have authorized to act for you."""
        return await self._client._call_list(OAuthAuthorization, "GET", "/oauth/authorizations")

    async def revoke_authorization(self, authorization_id: str) -> None:
        """Withdraw an app's access; its tokens stop working."""
        await self._client._call_none("DELETE", f"/oauth/authorizations/{authorization_id}")
