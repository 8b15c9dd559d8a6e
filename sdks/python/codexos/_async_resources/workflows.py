"""Workflows: definitions, validation, runs and human approvals."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any

from codexos._core import RequestOptions, compact
from codexos._resource import AsyncResource
from codexos.pagination import AsyncPaginator
from codexos.types import (
    Approval,
    Event,
    Hook,
    Schedule,
    ValidationResult,
    WebhookDelivery,
    WebhookTarget,
    WebhookTargetCreated,
    Workflow,
    WorkflowRun,
    WorkflowRunDetail,
    WorkflowVersion,
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

    def all_runs(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        trigger: str | None = None,
        parent_run_id: str | None = None,
        limit: int | None = None,
    ) -> AsyncPaginator[WorkflowRun]:
        """Workflow runs across the workspace, optionally filtered."""
        params = compact(
            workflow_id=workflow_id,
            status=status,
            trigger=trigger,
            parent_run_id=parent_run_id,
            limit=limit,
        )
        return self._client._list(WorkflowRun, "/workflow-runs", params)

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

    async def resume(self, run_id: str) -> WorkflowRun:
        """Continue a failed run from its failed nodes (finished nodes are not run again)."""
        return await self._client._call(WorkflowRun, "POST", f"/workflow-runs/{run_id}/resume")

    async def rerun(self, run_id: str) -> WorkflowRun:
        """A new run with the same inputs and workflow version (`rerun_of` names this one)."""
        return await self._client._call(WorkflowRun, "POST", f"/workflow-runs/{run_id}/rerun")

    async def versions(self, workflow_id: str) -> builtins.list[WorkflowVersion]:
        path = f"/workflows/{workflow_id}/versions"
        return await self._client._call_list(WorkflowVersion, "GET", path)

    async def export(self, workflow_id: str, *, format: str = "json") -> str:
        """The definition as JSON or YAML text, ready for version control and `import_workflow`."""
        opts = RequestOptions("GET", f"/workflows/{workflow_id}/export", params={"format": format})
        return (await self._client._request(opts)).text

    async def import_workflow(self, document: str | dict[str, Any]) -> Workflow:
        """Create a workflow from an export: its JSON/YAML text or the parsed document."""
        if isinstance(document, str):
            return await self._client._call(
                Workflow,
                "POST",
                "/workflows/import",
                content=document.encode(),
                headers={"Content-Type": "application/yaml"},
            )
        return await self._client._call(Workflow, "POST", "/workflows/import", json_body=document)

    # -- triggers: schedules, inbound hooks, outbound webhooks --------------------------------

    async def create_schedule(
        self,
        workflow_id: str,
        cron: str,
        *,
        timezone: str | None = None,
        inputs: dict[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> Schedule:
        path = f"/workflows/{workflow_id}/schedules"
        body = compact(cron=cron, timezone=timezone, inputs=inputs, enabled=enabled)
        return await self._client._call(Schedule, "POST", path, json_body=body)

    def schedules(self, workflow_id: str, *, limit: int | None = None) -> AsyncPaginator[Schedule]:
        path = f"/workflows/{workflow_id}/schedules"
        return self._client._list(Schedule, path, compact(limit=limit))

    async def retrieve_schedule(self, workflow_id: str, schedule_id: str) -> Schedule:
        path = f"/workflows/{workflow_id}/schedules/{schedule_id}"
        return await self._client._call(Schedule, "GET", path)

    async def update_schedule(self, workflow_id: str, schedule_id: str, **fields: Any) -> Schedule:
        path = f"/workflows/{workflow_id}/schedules/{schedule_id}"
        return await self._client._call(Schedule, "PATCH", path, json_body=fields)

    async def delete_schedule(self, workflow_id: str, schedule_id: str) -> None:
        await self._client._call_none("DELETE", f"/workflows/{workflow_id}/schedules/{schedule_id}")

    async def create_hook(self, workflow_id: str) -> Hook:
        """An inbound hook; its `url` and signing `secret` are only in this response."""
        return await self._client._call(Hook, "POST", f"/workflows/{workflow_id}/hooks")

    def hooks(self, workflow_id: str, *, limit: int | None = None) -> AsyncPaginator[Hook]:
        path = f"/workflows/{workflow_id}/hooks"
        return self._client._list(Hook, path, compact(limit=limit))

    async def delete_hook(self, workflow_id: str, hook_id: str) -> None:
        await self._client._call_none("DELETE", f"/workflows/{workflow_id}/hooks/{hook_id}")

    async def create_webhook(
        self, workflow_id: str, url: str, *, events: builtins.list[str] | None = None
    ) -> WebhookTargetCreated:
        """Notify `url` when a run ends; the signing `secret` is only in this response."""
        path = f"/workflows/{workflow_id}/webhooks"
        body = compact(url=url, events=events)
        return await self._client._call(WebhookTargetCreated, "POST", path, json_body=body)

    async def webhooks(self, workflow_id: str) -> builtins.list[WebhookTarget]:
        path = f"/workflows/{workflow_id}/webhooks"
        return await self._client._call_list(WebhookTarget, "GET", path)

    def webhook_deliveries(
        self, workflow_id: str, *, run_id: str | None = None, limit: int | None = None
    ) -> AsyncPaginator[WebhookDelivery]:
        path = f"/workflows/{workflow_id}/webhooks/deliveries"
        return self._client._list(WebhookDelivery, path, compact(run_id=run_id, limit=limit))

    async def delete_webhook(self, workflow_id: str, target_id: str) -> None:
        await self._client._call_none("DELETE", f"/workflows/{workflow_id}/webhooks/{target_id}")
