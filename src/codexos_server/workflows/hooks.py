"""Inbound webhooks: `POST /api/v1/hooks/{token}` starts a run of the hook's workflow.

The URL token is a bearer of nothing: it only names the hook (stored as its SHA-256). The
request is authenticated by its signature, which the sender computes with the hook's secret:

    X-CodexOS-Timestamp: <unix seconds>
    X-CodexOS-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>

A timestamp further than the replay window from our clock is refused (401), and so is a
signature we already accepted (409): its receipt is stored in the transaction that starts the
run, under UNIQUE(hook_id, signature). Receipts are kept for twice the window (a timestamp
may be up to one window in the future), then deleted opportunistically.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from codexos_server.auth.principal import Principal
from codexos_server.config import API_PREFIX
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import (
    AppError,
    AuthenticationFailed,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.secretbox import SecretBox
from codexos_server.workflows.models import Hook, HookReceipt, Workflow
from codexos_server.workflows.runs import WorkflowRunService
from codexos_server.workflows.schedules import run_user
from codexos_server.workflows.schemas import HookOut
from codexos_server.workflows.service import WorkflowService
from codexos_server.workflows.state import Progress
from codexos_server.workflows.trigger_schemas import HookAccepted
from codexos_server.workspaces.permissions import Action

MAX_HOOK_BODY_BYTES = 1024 * 1024
TIMESTAMP_HEADER = "x-codexos-timestamp"
SIGNATURE_HEADER = "x-codexos-signature"
SIGNATURE_PREFIX = "sha256="


class SignatureRejected(AuthenticationFailed):
    """401 for a webhook request whose signature headers are missing, stale or wrong."""

    def __init__(self, message: str) -> None:
        AppError.__init__(self, message, {"headers": [TIMESTAMP_HEADER, SIGNATURE_HEADER]})


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"{timestamp}." + body`: inbound and outbound webhooks alike."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def hook_out(row: Hook, token: str | None = None, secret: str | None = None) -> HookOut:
    return HookOut(
        id=row.id,
        workflow_id=row.workflow_id,
        enabled=row.enabled,
        url=f"{API_PREFIX}/hooks/{token}" if token else None,
        secret=secret,
        created_at=row.created_at,
    )


class HookService:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        workflows: WorkflowService,
        runs: WorkflowRunService,
        replay_window_seconds: int,
    ) -> None:
        self.db = db
        self.box = box
        self.workflows = workflows
        self.runs = runs
        self.window = replay_window_seconds

    async def create(self, actor: Principal, workflow_id: str) -> HookOut:
        """A new hook; its URL and secret are in this answer only. Raises: NotFound."""
        actor.require(Action.WRITE)
        token = secrets.token_urlsafe(32)
        secret = "whsec_" + secrets.token_urlsafe(32)
        async with self.db.transaction() as session:
            workflow = await self.workflows.load(session, actor.workspace_id, workflow_id)
            row = Hook(
                workflow_id=workflow.id,
                workspace_id=workflow.workspace_id,
                created_by=actor.user_id,
                token_hash=token_hash(token),
                secret_encrypted=self.box.seal(secret),
                enabled=True,
            )
            session.add(row)
            await session.flush()
            return hook_out(row, token, secret)

    async def list(self, actor: Principal, workflow_id: str, params: PageParams) -> Page[HookOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            await self.workflows.load(session, actor.workspace_id, workflow_id)
            stmt = select(Hook).where(Hook.workflow_id == workflow_id)
            rows, cursor = await paginate(session, stmt, params, Hook.created_at, Hook.id)
            return Page(items=[hook_out(r[0]) for r in rows], next_cursor=cursor)

    async def delete(self, actor: Principal, workflow_id: str, hook_id: str) -> None:
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            await self.workflows.load(session, actor.workspace_id, workflow_id)
            row = await session.scalar(
                select(Hook).where(Hook.id == hook_id, Hook.workflow_id == workflow_id)
            )
            if row is None:
                raise NotFound("hook", hook_id)
            await session.delete(row)

    async def receive(self, token: str, body: bytes, headers: Mapping[str, str]) -> HookAccepted:
        """Check a signed request and start the hook's run with the JSON body as inputs.

        Raises: PayloadTooLarge, NotFound (unknown or disabled token), SignatureRejected
        (missing, stale or wrong signature), Conflict (replayed), ValidationFailed (body)."""
        if len(body) > MAX_HOOK_BODY_BYTES:
            raise PayloadTooLarge(f"A webhook body may be at most {MAX_HOOK_BODY_BYTES} bytes")
        async with self.db.read() as session:
            hook = await session.scalar(select(Hook).where(Hook.token_hash == token_hash(token)))
        if hook is None or not hook.enabled:
            raise NotFound("hook")
        signature = self._verify(hook, body, {k.lower(): v for k, v in headers.items()})
        inputs = _inputs(body)
        progress = Progress()
        try:
            async with self.db.transaction() as session:
                receipt = HookReceipt(hook_id=hook.id, signature=signature)
                session.add(receipt)
                await session.flush()  # a replayed signature fails here
                workflow = await session.get(Workflow, hook.workflow_id)
                if workflow is None:
                    raise NotFound("hook")
                user_id = await run_user(session, hook.created_by)
                run = await self.runs.start_in(
                    session, workflow, inputs, "webhook", user_id, progress
                )
                receipt.run_id = run.id
                await session.execute(
                    delete(HookReceipt).where(
                        HookReceipt.hook_id == hook.id,
                        HookReceipt.created_at < utcnow() - timedelta(seconds=2 * self.window),
                    )
                )
                accepted = HookAccepted(run_id=run.id, workflow_id=workflow.id, status=run.status)
        except IntegrityError as exc:
            raise Conflict(
                "This request was already accepted (replay); sign each delivery afresh"
            ) from exc
        await self.runs.engine.after(progress)
        return accepted

    def _verify(self, hook: Hook, body: bytes, headers: Mapping[str, str]) -> str:
        """The accepted signature (lower-case hex). Raises: SignatureRejected."""
        raw_timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
        raw_signature = headers.get(SIGNATURE_HEADER, "").strip()
        if not raw_timestamp or not raw_signature:
            raise SignatureRejected(
                "Missing signature: send X-CodexOS-Timestamp and X-CodexOS-Signature"
            )
        if not (raw_timestamp.isascii() and raw_timestamp.isdigit()) or len(raw_timestamp) > 12:
            raise SignatureRejected("X-CodexOS-Timestamp must be unix seconds")
        if abs(time.time() - int(raw_timestamp)) > self.window:
            raise SignatureRejected(
                f"The timestamp is outside the {self.window} s replay window; check your clock"
            )
        given = raw_signature.lower().removeprefix(SIGNATURE_PREFIX)
        expected = sign(self.box.open(hook.secret_encrypted), raw_timestamp, body)
        if not raw_signature.lower().startswith(SIGNATURE_PREFIX) or not hmac.compare_digest(
            given.encode(), expected.encode()
        ):
            raise SignatureRejected("The signature does not match the body and timestamp")
        return expected


def _inputs(body: bytes) -> dict[str, Any]:
    """The run's inputs: the body as a JSON object (an empty body is `{}`).

    Raises: ValidationFailed."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed(
            "The body is not JSON", [{"field": "body", "message": str(exc)[:200]}]
        ) from exc
    if not isinstance(value, dict):
        raise ValidationFailed(
            "The body must be a JSON object (the run's inputs)",
            [{"field": "body", "message": f"got {type(value).__name__}"}],
        )
    return value
