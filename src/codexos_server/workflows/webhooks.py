"""Outbound webhooks: when a run ends, POST a signed payload to each of the workflow's
targets that subscribed to the event (`run.succeeded`, `run.failed`, `run.cancelled`).

Targets live on `Workflow.webhooks` as `{"id", "url", "events", "secret_encrypted",
"created_at"}`. The engine's finish hook stages one `workflow.webhook` job per target in the
transaction that closes the run (a finished run always gets its webhooks). Each attempt is a
job of its own: it POSTs through the SSRF-safe client, records a WebhookDelivery row, and on
a non-2xx answer or a network error stages the next attempt with exponential backoff
(`webhook_retry_base_seconds`, doubling, at most an hour) until `webhook_max_attempts`. A
destination the policy refuses, or a redirect (not followed), is not retried.

The request carries `X-CodexOS-Event`, `X-CodexOS-Delivery` (this attempt's delivery id, as
listed by the API), `X-CodexOS-Timestamp` and `X-CodexOS-Signature: sha256=<hex
HMAC-SHA256(secret, f"{timestamp}." + body)>` (the inbound hooks' scheme). The body's `id`
is the same for every attempt of one event: receivers deduplicate on it.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import secrets
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.db.base import new_id, utcnow
from codexos_server.db.database import Database
from codexos_server.errors import NotFound, ValidationFailed
from codexos_server.jobs.context import JobContext
from codexos_server.jobs.registry import job_kind
from codexos_server.jobs.service import JobService, StagedJob
from codexos_server.log import get_logger
from codexos_server.netguard import BlockedDestination, FetchError, InvalidRequest, SafeHttpClient
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.secretbox import SecretBox
from codexos_server.workflows.hooks import sign
from codexos_server.workflows.models import WebhookDelivery, Workflow, WorkflowRun
from codexos_server.workflows.schemas import DeliveryOut, WebhookTarget, WorkflowRunOut
from codexos_server.workflows.state import Progress
from codexos_server.workflows.trigger_schemas import WebhookTargetCreatedOut, WebhookTargetOut
from codexos_server.workspaces.permissions import Action

log = get_logger("codexos.workflows.webhooks")

WEBHOOK_JOB = "workflow.webhook"
MAX_TARGETS = 20
MAX_RETRY_DELAY_SECONDS = 3600.0
CHECK_URL_SECONDS = 5.0


def target_out(target: dict[str, Any]) -> WebhookTargetOut:
    return WebhookTargetOut(
        id=str(target.get("id", "")),
        url=str(target["url"]),
        events=list(target.get("events", [])),
        created_at=target.get("created_at"),
    )


class WebhookService:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        http: SafeHttpClient,
        jobs: JobService,
        *,
        max_attempts: int,
        retry_base_seconds: float,
    ) -> None:
        self.db = db
        self.box = box
        self.http = http
        self.jobs = jobs
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds

    # -- targets ------------------------------------------------------------------------

    async def _workflow(
        self, session: AsyncSession, actor: Principal, workflow_id: str, *, lock: bool = False
    ) -> Workflow:
        stmt = select(Workflow).where(
            Workflow.id == workflow_id, Workflow.workspace_id == actor.workspace_id
        )
        if lock and not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        row = await session.scalar(stmt)
        if row is None:
            raise NotFound("workflow", workflow_id)
        return row

    async def add(
        self, actor: Principal, workflow_id: str, body: WebhookTarget
    ) -> WebhookTargetCreatedOut:
        """Add a target; its secret is in this answer only.

        Raises: NotFound, ValidationFailed (a destination the outbound policy refuses, or
        too many targets)."""
        actor.require(Action.WRITE)
        url = str(body.url)
        await self._check_destination(url)
        secret = "whsec_" + secrets.token_urlsafe(32)
        created_at = utcnow()
        target = {
            "id": new_id(),
            "url": url,
            "events": list(dict.fromkeys(body.events)),
            "secret_encrypted": self.box.seal(secret),
            "created_at": created_at.isoformat(),
        }
        async with self.db.transaction() as session:
            workflow = await self._workflow(session, actor, workflow_id, lock=True)
            current = list(workflow.webhooks or [])
            if len(current) >= MAX_TARGETS:
                raise ValidationFailed(
                    "Too many webhook targets",
                    [{"field": "url", "message": f"a workflow has at most {MAX_TARGETS}"}],
                )
            workflow.webhooks = [*current, target]
        return WebhookTargetCreatedOut(
            id=target["id"], url=url, events=target["events"], secret=secret, created_at=created_at
        )

    async def _check_destination(self, url: str) -> None:
        """Refuse at once a URL the outbound policy will always refuse (a private address, a
        bad port). A name that does not resolve yet is accepted: its deliveries will say."""
        try:
            async with asyncio.timeout(CHECK_URL_SECONDS):
                await self.http.check_url(url)
        except (BlockedDestination, InvalidRequest) as exc:
            raise ValidationFailed(
                "This URL cannot receive webhooks", [{"field": "url", "message": str(exc)}]
            ) from exc
        except (FetchError, TimeoutError):
            pass

    async def list(self, actor: Principal, workflow_id: str) -> builtins.list[WebhookTargetOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            workflow = await self._workflow(session, actor, workflow_id)
            return [target_out(t) for t in workflow.webhooks or []]

    async def delete(self, actor: Principal, workflow_id: str, target_id: str) -> None:
        """Delete a target by its id (or, for targets listed without one, its position).

        Raises: NotFound."""
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            workflow = await self._workflow(session, actor, workflow_id, lock=True)
            current = list(workflow.webhooks or [])
            index = next((i for i, t in enumerate(current) if t.get("id") == target_id), None)
            if index is None and target_id.isascii() and target_id.isdigit():
                index = int(target_id) if int(target_id) < len(current) else None
            if index is None:
                raise NotFound("webhook target", target_id)
            workflow.webhooks = current[:index] + current[index + 1 :]

    async def deliveries(
        self, actor: Principal, workflow_id: str, params: PageParams, run_id: str | None = None
    ) -> Page[DeliveryOut]:
        """Delivery attempts, newest first."""
        actor.require(Action.READ)
        async with self.db.read() as session:
            await self._workflow(session, actor, workflow_id)
            stmt = select(WebhookDelivery).where(WebhookDelivery.workflow_id == workflow_id)
            if run_id:
                stmt = stmt.where(WebhookDelivery.run_id == run_id)
            rows, cursor = await paginate(
                session, stmt, params, WebhookDelivery.created_at, WebhookDelivery.id
            )
            return Page(items=[DeliveryOut.model_validate(r[0]) for r in rows], next_cursor=cursor)

    # -- delivering -----------------------------------------------------------------------

    async def on_run_finished(
        self, session: AsyncSession, run: WorkflowRun, progress: Progress
    ) -> None:
        """The engine's finish hook: stage the first delivery to every subscribed target."""
        workflow = await session.get(Workflow, run.workflow_id)
        if workflow is None or not workflow.webhooks:
            return
        event = f"run.{run.status}"
        for target in workflow.webhooks:
            if event not in target.get("events", []) or not target.get("id"):
                continue
            payload = {
                "workflow_id": workflow.id,
                "run_id": run.id,
                "target_id": target["id"],
                "event": event,
                "event_id": new_id(),
                "attempt": 1,
            }
            progress.staged.append(
                self.jobs.stage(session, WEBHOOK_JOB, payload, workspace_id=run.workspace_id)
            )

    def retry_delay(self, attempt: int) -> float:
        """Seconds between attempt `attempt` and the next one."""
        return float(min(self.retry_base_seconds * 2.0 ** (attempt - 1), MAX_RETRY_DELAY_SECONDS))

    async def deliver(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One delivery attempt (the `workflow.webhook` job): POST, record, and stage the next
        attempt if this one failed and may be retried."""
        attempt = int(payload["attempt"])
        event = str(payload["event"])
        async with self.db.read() as session:
            run = await session.get(WorkflowRun, payload["run_id"])
            workflow = await session.get(Workflow, payload["workflow_id"])
            target = next(
                (
                    t
                    for t in (workflow.webhooks if workflow else [])
                    if t.get("id") == payload["target_id"]
                ),
                None,
            )
            if run is None or workflow is None or target is None:
                return {"skipped": "the run, workflow or target no longer exists"}
            done = await session.scalar(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.run_id == run.id,
                    WebhookDelivery.url == target["url"],
                    WebhookDelivery.event == event,
                    WebhookDelivery.attempt == attempt,
                )
            )
            if done is not None:  # this job ran already (a re-delivered job)
                return {"skipped": "attempt already recorded", "delivery_id": done}
            body = _event_body(payload, workflow, run)
        delivery_id = new_id()
        url = str(target["url"])
        started = time.perf_counter()
        status_code, error, retry = await self._post(
            url, self.box.open(str(target["secret_encrypted"])), event, delivery_id, body
        )
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        delivered = status_code is not None and 200 <= status_code < 300
        staged: StagedJob | None = None
        async with self.db.transaction() as session:
            session.add(
                WebhookDelivery(
                    id=delivery_id,
                    workflow_id=workflow.id,
                    run_id=run.id,
                    url=url,
                    event=event,
                    attempt=attempt,
                    status_code=status_code,
                    error=error,
                    duration_ms=duration_ms,
                    delivered=delivered,
                )
            )
            if not delivered and retry and attempt < self.max_attempts:
                staged = self.jobs.stage(
                    session,
                    WEBHOOK_JOB,
                    {**payload, "attempt": attempt + 1},
                    workspace_id=run.workspace_id,
                    delay_seconds=self.retry_delay(attempt),
                )
        if staged is not None:
            await self.jobs.announce([staged])
        elif not delivered:
            log.warning("webhook_gave_up", run_id=run.id, url=url, attempt=attempt, error=error)
        return {"delivery_id": delivery_id, "delivered": delivered, "status_code": status_code}

    async def _post(
        self, url: str, secret: str, event: str, delivery_id: str, body: bytes
    ) -> tuple[int | None, str | None, bool]:
        """POST once: (status code, error, whether a retry could help)."""
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-CodexOS-Event": event,
            "X-CodexOS-Delivery": delivery_id,
            "X-CodexOS-Timestamp": timestamp,
            "X-CodexOS-Signature": "sha256=" + sign(secret, timestamp, body),
        }
        hops: list[str] = []

        def first_hop_only(hop: str) -> bool:
            hops.append(hop)
            return len(hops) == 1

        try:
            response = await self.http.fetch(
                url, method="POST", headers=headers, content=body, allow_url=first_hop_only
            )
        except (BlockedDestination, InvalidRequest) as exc:
            if len(hops) > 1:
                return None, "the receiver redirected; webhooks do not follow redirects", False
            return None, str(exc)[:1000], False
        except FetchError as exc:
            return None, str(exc)[:1000], True
        if 200 <= response.status < 300:
            return response.status, None, False
        return response.status, f"the receiver answered HTTP {response.status}", True


def _event_body(payload: dict[str, Any], workflow: Workflow, run: WorkflowRun) -> bytes:
    document = {
        "id": payload.get("event_id") or f"{run.id}:{payload['target_id']}:{payload['event']}",
        "event": payload["event"],
        "created_at": utcnow().isoformat(),
        "workflow": {"id": workflow.id, "name": workflow.name},
        "run": WorkflowRunOut.model_validate(run).model_dump(mode="json"),
    }
    return json.dumps(document, separators=(",", ":"), default=str).encode()


# Each delivery attempt is its own job (the next one is staged by the handler with the
# webhook backoff); the job's own attempts only cover a crash before the attempt is recorded.
@job_kind(WEBHOOK_JOB, timeout=120, max_attempts=3, backoff_base=5, backoff_max=60)
async def deliver_webhook(ctx: JobContext) -> dict[str, Any]:
    service: WebhookService = ctx.services.workflow_webhooks
    return await service.deliver(ctx.payload)
