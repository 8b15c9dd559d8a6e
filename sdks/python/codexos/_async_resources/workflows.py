"""Workflows: definitions, validation, runs and human approvals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from codexos._core import compact
from codexos._resource import AsyncResource
from codexos.pagination import AsyncPaginator
from codexos.types import (
    Approval,
    Event,
    ValidationResult,
    Workflow,
    WorkflowRun,
    WorkflowRunDetail,
)


class AsyncWorkflows(AsyncResource):
    async def create(
        self, name: str, spec: dict[str, Any], *, description: str | None = None
    ) -> Workflow:
        body = compact(name=name, spec=spec, description=description)
        return await self._client._call(Workflow, "POST", "/workflows", json_body=body)

    def list(self, *, limit: int | None = None) -> AsyncPaginator[Workflow]:
        return self._client._list(Workflow, "/workflows", compact(limit=limit))

    async def retrieve(self, workflow_id: str) -> Workflow:
        return await self._client._call(Workflow, "GET", f"/workflows/{workflow_id}")

    async def update(self, workflow_id: str, **fields: Any) -> Workflow:
        path = f"/workflows/{workflow_id}"
        return await self._client._call(Workflow, "PATCH", path, json_body=fields)

    async def delete(self, workflow_id: str) -> None:
        await self._client._call_none("DELETE", f"/workflows/{workflow_id}")

    async def validate(self, spec: dict[str, Any]) -> ValidationResult:
        """Check a spec without saving it: `valid` and the `problems` found."""
        body = {"spec": spec}
        return await self._client._call(
            ValidationResult, "POST", "/workflows/validate", json_body=body
        )

    async def run(
        self,
        workflow_id: str,
        inputs: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> WorkflowRun:
        """Start a run (it continues in the background); retries reuse one Idempotency-Key."""
        path = f"/workflows/{workflow_id}/runs"
        body = {"inputs": inputs or {}}
        return await self._client._call_idempotent(WorkflowRun, path, idempotency_key, body)

    def runs(
        self, workflow_id: str, *, status: str | None = None, limit: int | None = None
    ) -> AsyncPaginator[WorkflowRun]:
        path = f"/workflows/{workflow_id}/runs"
        return self._client._list(WorkflowRun, path, compact(status=status, limit=limit))

    async def retrieve_run(self, run_id: str) -> WorkflowRunDetail:
        """A run with its nodes and approvals."""
        return await self._client._call(WorkflowRunDetail, "GET", f"/workflow-runs/{run_id}")

    async def cancel(self, run_id: str) -> WorkflowRun:
        return await self._client._call(WorkflowRun, "POST", f"/workflow-runs/{run_id}/cancel")

    def approvals(self, *, limit: int | None = None) -> AsyncPaginator[Approval]:
        """Approvals waiting for a decision."""
        return self._client._list(Approval, "/workflow-approvals", compact(limit=limit))

    async def approve(self, run_id: str, node_id: str, *, comment: str | None = None) -> Approval:
        path = f"/workflow-runs/{run_id}/approvals/{node_id}/approve"
        return await self._client._call(Approval, "POST", path, json_body=compact(comment=comment))

    async def reject(self, run_id: str, node_id: str, *, comment: str | None = None) -> Approval:
        path = f"/workflow-runs/{run_id}/approvals/{node_id}/reject"
        return await self._client._call(Approval, "POST", path, json_body=compact(comment=comment))

    def run_events(self, run_id: str, *, after_seq: int | None = None) -> AsyncIterator[Event]:
        """A workflow run's events until it ends."""
        params = compact(after_seq=after_seq)
        return self._client._stream("GET", f"/workflow-runs/{run_id}/events", params=params)
