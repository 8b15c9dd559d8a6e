"""Conversations with an agent and their messages."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.agents.models import Conversation, Message
from codexos_server.agents.schemas import ConversationCreate, ConversationOut, MessageOut
from codexos_server.agents.service import AgentService
from codexos_server.auth.principal import Principal
from codexos_server.db.database import Database
from codexos_server.errors import NotFound
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.workspaces.permissions import Action


class ConversationService:
    def __init__(self, db: Database, agents: AgentService) -> None:
        self.db = db
        self.agents = agents

    async def create(
        self, actor: Principal, agent_id: str, body: ConversationCreate
    ) -> ConversationOut:
        actor.require(Action.EXECUTE)
        async with self.db.transaction() as session:
            agent = await self.agents.load(session, actor, agent_id)
            conversation = Conversation(
                workspace_id=actor.workspace_id,
                agent_id=agent.id,
                user_id=actor.user_id,
                title=body.title,
            )
            session.add(conversation)
            await session.flush()
            return ConversationOut.model_validate(conversation)

    async def list(
        self, actor: Principal, agent_id: str, params: PageParams
    ) -> Page[ConversationOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            await self.agents.load(session, actor, agent_id)
            stmt = select(Conversation).where(
                Conversation.agent_id == agent_id, Conversation.workspace_id == actor.workspace_id
            )
            rows, cursor = await paginate(
                session, stmt, params, Conversation.created_at, Conversation.id
            )
            return Page(
                items=[ConversationOut.model_validate(r[0]) for r in rows], next_cursor=cursor
            )

    async def _load(
        self, session: AsyncSession, actor: Principal, conversation_id: str
    ) -> Conversation:
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.workspace_id == actor.workspace_id
            )
        )
        if conversation is None:
            raise NotFound("conversation", conversation_id)
        return conversation

    async def get(self, actor: Principal, conversation_id: str) -> ConversationOut:
        actor.require(Action.READ)
        async with self.db.read() as session:
            return ConversationOut.model_validate(await self._load(session, actor, conversation_id))

    async def delete(self, actor: Principal, conversation_id: str) -> None:
        actor.require(Action.WRITE)
        async with self.db.transaction() as session:
            await session.delete(await self._load(session, actor, conversation_id))

    async def messages(
        self, actor: Principal, conversation_id: str, params: PageParams
    ) -> Page[MessageOut]:
        """Messages, newest first (page backwards through the history)."""
        actor.require(Action.READ)
        async with self.db.read() as session:
            await self._load(session, actor, conversation_id)
            stmt = select(Message).where(Message.conversation_id == conversation_id)
            rows, cursor = await paginate(session, stmt, params, Message.position, Message.id)
            return Page(items=[MessageOut.model_validate(r[0]) for r in rows], next_cursor=cursor)
