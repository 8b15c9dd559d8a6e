"""Agent definitions: create, list, read, update (a new immutable version each time),
delete, duplicate, versions."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.agents.models import Agent, AgentType, AgentVersion, ToolDefinition
from codexos_server.agents.schemas import AgentCreate, AgentOut, AgentUpdate, AgentVersionOut
from codexos_server.agents.tools.base import TOOLS
from codexos_server.auth.principal import Principal
from codexos_server.db.database import Database
from codexos_server.errors import NotFound, ValidationFailed
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.workspaces.permissions import Action

# The fields a version snapshot records (everything that changes how the agent behaves).
SNAPSHOT_FIELDS = (
    "name",
    "description",
    "type",
    "instructions",
    "model",
    "tools",
    "knowledge_base_ids",
    "memory",
    "variables",
    "max_steps",
)


def snapshot_of(agent: Agent) -> dict[str, Any]:
    return {field: getattr(agent, field) for field in SNAPSHOT_FIELDS}


class AgentService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, session: AsyncSession, actor: Principal, agent_id: str) -> Agent:
        """The agent, if it is in the actor's workspace. Raises: NotFound."""
        agent = await session.scalar(
            select(Agent).where(Agent.id == agent_id, Agent.workspace_id == actor.workspace_id)
        )
        if agent is None:
            raise NotFound("agent", agent_id)
        return agent

    @staticmethod
    async def _check_tools(session: AsyncSession, workspace_id: str, tools: list[Any]) -> None:
        """Raises: ValidationFailed naming tools that are neither built in nor defined here."""
        names = {t["name"] if isinstance(t, dict) else t.name for t in tools}
        unknown = names - set(TOOLS)
        if unknown:
            defined = set(
                (
                    await session.scalars(
                        select(ToolDefinition.name).where(
                            ToolDefinition.workspace_id == workspace_id,
                            ToolDefinition.name.in_(unknown),
                        )
                    )
                ).all()
            )
            missing = sorted(unknown - defined)
            if missing:
                raise ValidationFailed(
                    "Unknown tools",
                    [{"field": "tools", "message": f"no tool named {name!r}"} for name in missing],
                )

    async def create(self, actor: Principal, body: AgentCreate) -> AgentOut:
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            await self._check_tools(session, actor.workspace_id, body.tools)
            agent = Agent(
                workspace_id=actor.workspace_id,
                created_by=actor.user_id,
                version=1,
                **body.model_dump(mode="json"),
            )
            session.add(agent)
            await session.flush()
            session.add(AgentVersion(agent_id=agent.id, version=1, snapshot=snapshot_of(agent)))
            return AgentOut.model_validate(agent)

    async def list(
        self,
        actor: Principal,
        params: PageParams,
        *,
        type: AgentType | None = None,
        search: str | None = None,
    ) -> Page[AgentOut]:
        """Agents of the workspace, newest first, optionally by type or name/description text."""
        actor.require(Action.READ)
        async with self.db.read() as session:
            stmt = select(Agent).where(Agent.workspace_id == actor.workspace_id)
            if type is not None:
                stmt = stmt.where(Agent.type == type.value)
            if search:
                pattern = f"%{search.lower()}%"
                stmt = stmt.where(
                    func.lower(Agent.name).like(pattern)
                    | func.lower(Agent.description).like(pattern)
                )
            rows, cursor = await paginate(session, stmt, params, Agent.created_at, Agent.id)
            return Page(items=[AgentOut.model_validate(r[0]) for r in rows], next_cursor=cursor)

    async def get(self, actor: Principal, agent_id: str) -> AgentOut:
        actor.require(Action.READ)
        async with self.db.read() as session:
            return AgentOut.model_validate(await self.load(session, actor, agent_id))

    async def update(self, actor: Principal, agent_id: str, body: AgentUpdate) -> AgentOut:
        """Apply a partial update as a new version."""
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            agent = await self.load(session, actor, agent_id)
            if body.tools is not None:
                await self._check_tools(session, actor.workspace_id, body.tools)
            for field, value in body.model_dump(mode="json", exclude_unset=True).items():
                setattr(agent, field, value)
            agent.version += 1
            session.add(
                AgentVersion(agent_id=agent.id, version=agent.version, snapshot=snapshot_of(agent))
            )
            await session.flush()
            return AgentOut.model_validate(agent)

    async def delete(self, actor: Principal, agent_id: str) -> None:
        """Delete the agent with its versions, conversations and runs."""
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            await session.delete(await self.load(session, actor, agent_id))

    async def duplicate(self, actor: Principal, agent_id: str) -> AgentOut:
        """A new agent (version 1) with the same definition, named "Copy of …"."""
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            source = await self.load(session, actor, agent_id)
            values = snapshot_of(source)
            values["name"] = f"Copy of {source.name}"[:200]
            copy = Agent(
                workspace_id=actor.workspace_id, created_by=actor.user_id, version=1, **values
            )
            session.add(copy)
            await session.flush()
            session.add(AgentVersion(agent_id=copy.id, version=1, snapshot=snapshot_of(copy)))
            return AgentOut.model_validate(copy)

    async def versions(self, actor: Principal, agent_id: str) -> builtins.list[AgentVersionOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            await self.load(session, actor, agent_id)
            rows = (
                await session.scalars(
                    select(AgentVersion)
                    .where(AgentVersion.agent_id == agent_id)
                    .order_by(AgentVersion.version.desc())
                )
            ).all()
            return [
                AgentVersionOut(version=r.version, created_at=r.created_at, snapshot=r.snapshot)
                for r in rows
            ]

    async def version(self, actor: Principal, agent_id: str, version: int) -> AgentVersionOut:
        actor.require(Action.READ)
        async with self.db.read() as session:
            await self.load(session, actor, agent_id)
            row = await session.scalar(
                select(AgentVersion).where(
                    AgentVersion.agent_id == agent_id, AgentVersion.version == version
                )
            )
            if row is None:
                raise NotFound("agent version", str(version))
            return AgentVersionOut(
                version=row.version, created_at=row.created_at, snapshot=row.snapshot
            )
