"""User-defined HTTP tools: a URL template called with arguments that a JSON schema checks.

Placeholders `{name}` in the template are filled with URL-encoded arguments; the remaining
arguments go in the query string (GET, DELETE) or as a JSON body (POST, PUT, PATCH). Calls go
through the same SSRF guard as `http_request`.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import re
import urllib.parse
from typing import Any

import jsonschema
from sqlalchemy import select

from codexos_server.agents.models import ToolDefinition
from codexos_server.agents.schemas import ToolDefinitionCreate, ToolDefinitionOut
from codexos_server.agents.tools.base import TOOLS, ToolContext, ToolError
from codexos_server.auth.principal import Principal
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound, ValidationFailed
from codexos_server.netguard import FetchError, SafeHttpClient
from codexos_server.secretbox import SecretBox
from codexos_server.workspaces.permissions import Action

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_BODY_CHARS = 20_000


class HttpTemplateTool:
    """A ToolDefinition, ready to call."""

    def __init__(
        self,
        name: str,
        description: str,
        parameters: dict[str, Any],
        method: str,
        url_template: str,
        headers: dict[str, str],
        client: SafeHttpClient,
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self.method = method
        self.url_template = url_template
        self.headers = headers
        self.client = client

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        used: set[str] = set()

        def fill(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in arguments:
                raise ToolError(f"missing argument {key!r} for the URL")
            used.add(key)
            return urllib.parse.quote(str(arguments[key]), safe="")

        url = _PLACEHOLDER.sub(fill, self.url_template)
        rest = {k: v for k, v in arguments.items() if k not in used}
        params: dict[str, str | int | float | bool] | None = None
        content = None
        headers = dict(self.headers)
        if self.method in ("GET", "DELETE"):
            params = {
                k: v if isinstance(v, str | int | float | bool) else json.dumps(v)
                for k, v in rest.items()
            }
        elif rest:
            content = json.dumps(rest)
            headers.setdefault("Content-Type", "application/json")
        try:
            response = await self.client.fetch(
                url, method=self.method, headers=headers, params=params, content=content
            )
        except FetchError as exc:
            raise ToolError(str(exc)) from exc
        body: Any = response.text[:MAX_BODY_CHARS]
        if response.content_type and "json" in response.content_type and not response.truncated:
            with contextlib.suppress(ValueError):
                body = json.loads(response.content)
        return {"status": response.status, "body": body, "truncated": response.truncated}


def _out(row: ToolDefinition, header_names: list[str]) -> ToolDefinitionOut:
    return ToolDefinitionOut(
        id=row.id,
        name=row.name,
        description=row.description,
        parameters=row.parameters,
        method=row.method,
        url_template=row.url_template,
        header_names=header_names,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ToolDefinitionService:
    """The workspace's own tools."""

    def __init__(self, db: Database, box: SecretBox, client: SafeHttpClient) -> None:
        self.db = db
        self.box = box
        self.client = client

    def _headers(self, row: ToolDefinition) -> dict[str, str]:
        if not row.headers_encrypted:
            return {}
        return dict(json.loads(self.box.open(row.headers_encrypted)))

    async def create(self, actor: Principal, body: ToolDefinitionCreate) -> ToolDefinitionOut:
        """Raises: ValidationFailed (bad schema or template), Conflict (name taken)."""
        actor.require(Action.WRITE)
        if body.name in TOOLS:
            raise ValidationFailed(
                "Name taken by a built-in tool",
                [{"field": "name", "message": f"{body.name!r} is built in"}],
            )
        try:
            jsonschema.Draft202012Validator.check_schema(body.parameters)
        except jsonschema.SchemaError as exc:
            raise ValidationFailed(
                "Invalid JSON schema", [{"field": "parameters", "message": exc.message}]
            ) from exc
        if body.parameters.get("type") != "object":
            raise ValidationFailed(
                "Invalid JSON schema",
                [{"field": "parameters", "message": "must describe an object"}],
            )
        if not body.url_template.startswith(("http://", "https://")):
            raise ValidationFailed(
                "Invalid URL template",
                [{"field": "url_template", "message": "must be an http(s) URL"}],
            )
        async with self.db.transaction() as session:
            taken = await session.scalar(
                select(ToolDefinition.id).where(
                    ToolDefinition.workspace_id == actor.workspace_id,
                    ToolDefinition.name == body.name,
                )
            )
            if taken:
                raise Conflict(f"A tool named {body.name!r} already exists")
            row = ToolDefinition(
                workspace_id=actor.workspace_id,
                created_by=actor.user_id,
                name=body.name,
                description=body.description,
                parameters=body.parameters,
                method=body.method,
                url_template=body.url_template,
                headers_encrypted=self.box.seal(json.dumps(body.headers)) if body.headers else None,
            )
            session.add(row)
            await session.flush()
            return _out(row, sorted(body.headers))

    async def list(self, actor: Principal) -> list[ToolDefinitionOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(ToolDefinition)
                    .where(ToolDefinition.workspace_id == actor.workspace_id)
                    .order_by(ToolDefinition.name)
                )
            ).all()
            return [_out(r, sorted(self._headers(r))) for r in rows]

    async def delete(self, actor: Principal, tool_id: str) -> None:
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            row = await session.scalar(
                select(ToolDefinition).where(
                    ToolDefinition.id == tool_id, ToolDefinition.workspace_id == actor.workspace_id
                )
            )
            if row is None:
                raise NotFound("tool", tool_id)
            await session.delete(row)

    async def load(
        self, workspace_id: str, names: builtins.list[str]
    ) -> dict[str, HttpTemplateTool]:
        """The workspace's tools with these names, ready to call."""
        if not names:
            return {}
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(ToolDefinition).where(
                        ToolDefinition.workspace_id == workspace_id, ToolDefinition.name.in_(names)
                    )
                )
            ).all()
        return {
            r.name: HttpTemplateTool(
                r.name,
                r.description,
                r.parameters,
                r.method,
                r.url_template,
                self._headers(r),
                self.client,
            )
            for r in rows
        }
