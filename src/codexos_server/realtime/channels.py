"""Which event channels a caller may read. WebSocket subscriptions and GraphQL subscriptions
both ask here, so the rule lives once: a channel's subject must be in the caller's workspace
(another workspace's id is a 404, exactly as in REST) and the credential must hold the
subject's read scope.

Channels: `run:{id}` (agent runs), `workflow_run:{id}`, `document:{id}`, `job:{id}`, and
`workspace:{id}` (status events of everything in the workspace; only the caller's own).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from codexos_server.agents.models import Run
from codexos_server.auth.principal import Principal
from codexos_server.errors import AuthorizationFailed, NotFound, ValidationFailed
from codexos_server.jobs.models import Job
from codexos_server.rag.models import Document
from codexos_server.workflows.models import WorkflowRun
from codexos_server.workspaces.permissions import Action

# channel kind → (the table whose row must be in the caller's workspace, scope, resource name)
_SUBJECTS: dict[str, tuple[Any, str, str]] = {
    "run": (Run, "agents:read", "run"),
    "workflow_run": (WorkflowRun, "workflows:read", "workflow run"),
    "document": (Document, "knowledge:read", "document"),
    "job": (Job, "jobs:read", "job"),
}
MAX_CHANNEL_LENGTH = 120


def parse_channel(channel: str) -> tuple[str, str]:
    """Split `kind:id`. Raises: ValidationFailed for anything else."""
    kind, sep, ident = channel.partition(":")
    if (
        not sep
        or not ident
        or len(channel) > MAX_CHANNEL_LENGTH
        or (kind not in _SUBJECTS and kind != "workspace")
    ):
        raise ValidationFailed(
            f"Unknown channel {channel[:MAX_CHANNEL_LENGTH]!r}",
            [
                {
                    "field": "channel",
                    "message": "expected run:, workflow_run:, document:, job: or workspace:<id>",
                }
            ],
        )
    return kind, ident


async def authorize_channel(db: Any, principal: Principal, channel: str) -> None:
    """Raises: ValidationFailed (not a channel), AuthorizationFailed (scope), NotFound (not
    in the caller's workspace)."""
    kind, ident = parse_channel(channel)
    principal.require(Action.READ)
    if kind == "workspace":
        if ident != principal.workspace_id:
            raise NotFound("workspace", ident)
        return
    table, scope, resource = _SUBJECTS[kind]
    if not principal.has_scope(scope):
        raise AuthorizationFailed(
            f"This credential lacks the '{scope}' scope", {"required_scope": scope}
        )
    async with db.read() as session:
        found = await session.scalar(
            select(table.id).where(table.id == ident, table.workspace_id == principal.workspace_id)
        )
    if found is None:
        raise NotFound(resource, ident)
