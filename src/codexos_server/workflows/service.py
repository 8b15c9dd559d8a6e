"""Workflow definitions: CRUD with immutable versions, validation, export and import."""

from __future__ import annotations

import builtins
import json
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.db.database import Database
from codexos_server.errors import NotFound, ValidationFailed
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.workflows.models import Workflow, WorkflowVersion
from codexos_server.workflows.schemas import (
    ValidateResponse,
    WorkflowCreate,
    WorkflowOut,
    WorkflowUpdate,
    WorkflowVersionOut,
)
from codexos_server.workflows.validate import problems_error, validate
from codexos_server.workspaces.permissions import Action

EXPORT_FORMAT = "codexos.workflow/v1"


def workflow_out(row: Workflow) -> WorkflowOut:
    hooks = [{k: v for k, v in w.items() if k != "secret_encrypted"} for w in (row.webhooks or [])]
    return WorkflowOut(
        id=row.id,
        name=row.name,
        description=row.description,
        spec=row.spec,
        version=row.version,
        webhooks=hooks,
        source_listing_id=row.source_listing_id,
        source_listing_version=row.source_listing_version,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def checked_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The normalised spec. Raises: ValidationFailed listing every problem with its node."""
    parsed, problems = validate(spec)
    if problems or parsed is None:
        raise problems_error(problems)
    return parsed.model_dump(mode="json", exclude_defaults=False)


class WorkflowService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, session: AsyncSession, workspace_id: str, workflow_id: str) -> Workflow:
        row = await session.scalar(
            select(Workflow).where(
                Workflow.id == workflow_id, Workflow.workspace_id == workspace_id
            )
        )
        if row is None:
            raise NotFound("workflow", workflow_id)
        return row

    async def create(self, actor: Principal, body: WorkflowCreate) -> WorkflowOut:
        actor.require(Action.WRITE)
        spec = checked_spec(body.spec)
        async with self.db.transaction() as session:
            row = Workflow(
                workspace_id=actor.workspace_id,
                created_by=actor.user_id,
                name=body.name,
                description=body.description,
                spec=spec,
                version=1,
                webhooks=[],
            )
            session.add(row)
            await session.flush()
            session.add(WorkflowVersion(workflow_id=row.id, version=1, name=row.name, spec=spec))
            return workflow_out(row)

    async def list(self, actor: Principal, params: PageParams) -> Page[WorkflowOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            stmt = select(Workflow).where(Workflow.workspace_id == actor.workspace_id)
            rows, cursor = await paginate(session, stmt, params, Workflow.created_at, Workflow.id)
            return Page(items=[workflow_out(r[0]) for r in rows], next_cursor=cursor)

    async def get(self, actor: Principal, workflow_id: str) -> WorkflowOut:
        actor.require(Action.READ)
        async with self.db.read() as session:
            return workflow_out(await self.load(session, actor.workspace_id, workflow_id))

    async def update(self, actor: Principal, workflow_id: str, body: WorkflowUpdate) -> WorkflowOut:
        actor.require(Action.WRITE)
        spec = checked_spec(body.spec) if body.spec is not None else None
        async with self.db.transaction() as session:
            row = await self.load(session, actor.workspace_id, workflow_id)
            if body.name is not None:
                row.name = body.name
            if body.description is not None:
                row.description = body.description
            if spec is not None:
                row.spec = spec
                row.version += 1
                session.add(
                    WorkflowVersion(
                        workflow_id=row.id, version=row.version, name=row.name, spec=spec
                    )
                )
            await session.flush()
            return workflow_out(row)

    async def delete(self, actor: Principal, workflow_id: str) -> None:
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            await session.delete(await self.load(session, actor.workspace_id, workflow_id))

    async def versions(
        self, actor: Principal, workflow_id: str
    ) -> builtins.list[WorkflowVersionOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            await self.load(session, actor.workspace_id, workflow_id)
            rows = (
                await session.scalars(
                    select(WorkflowVersion)
                    .where(WorkflowVersion.workflow_id == workflow_id)
                    .order_by(WorkflowVersion.version.desc())
                )
            ).all()
            return [
                WorkflowVersionOut(
                    version=r.version, name=r.name, spec=r.spec, created_at=r.created_at
                )
                for r in rows
            ]

    @staticmethod
    def check(spec: dict[str, Any]) -> ValidateResponse:
        """Validate without saving: every problem at once, each with its node id."""
        _, problems = validate(spec)
        return ValidateResponse(
            valid=not problems,
            problems=[
                {"node_id": p.node_id, "field": p.field, "code": p.code, "message": p.message}
                for p in problems
            ],
        )

    async def export(self, actor: Principal, workflow_id: str, fmt: str) -> str:
        """The definition as JSON or YAML, ready for version control and `import`."""
        wf = await self.get(actor, workflow_id)
        document = {
            "format": EXPORT_FORMAT,
            "name": wf.name,
            "description": wf.description,
            "spec": wf.spec,
        }
        if fmt == "yaml":
            return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
        return json.dumps(document, indent=2, ensure_ascii=False)

    async def import_(self, actor: Principal, text: str) -> WorkflowOut:
        """Create a workflow from an export (JSON or YAML). Raises: ValidationFailed."""
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationFailed(
                "Not JSON or YAML", [{"field": "body", "message": str(exc)[:300]}]
            ) from exc
        if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
            raise ValidationFailed(
                "Not a workflow export",
                [{"field": "format", "message": f"expected {EXPORT_FORMAT!r}"}],
            )
        try:
            body = WorkflowCreate(
                name=document.get("name") or "Imported workflow",
                description=document.get("description"),
                spec=document.get("spec") or {},
            )
        except ValueError as exc:
            raise ValidationFailed(
                "Invalid workflow export", [{"field": "body", "message": str(exc)[:500]}]
            ) from exc
        return await self.create(actor, body)
