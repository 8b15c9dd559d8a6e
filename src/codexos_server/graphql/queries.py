"""Query fields: each checks the REST route's scope, then calls the same service method."""

from __future__ import annotations

import strawberry

from codexos_server.agents.models import AgentType, RunStatus
from codexos_server.graphql.context import Info
from codexos_server.graphql.marketplace import MarketplaceQueries
from codexos_server.graphql.relay import Connection, by_position, connection, page_params
from codexos_server.graphql.types import (
    Agent,
    Approval,
    Conversation,
    Document,
    KnowledgeBase,
    Message,
    NodeRun,
    Run,
    User,
    Workflow,
    WorkflowRun,
    Workspace,
    build,
)
from codexos_server.workflows.models import RunStatus as WorkflowRunStatus

DEFAULT_PAGE = 20


@strawberry.input
class AgentFilter:
    type: AgentType | None = None
    search: str | None = strawberry.field(
        default=None, description="Text in the name or description"
    )


@strawberry.type
class Query(MarketplaceQueries):
    @strawberry.field(description="The caller's profile")
    async def me(self, info: Info) -> User:
        actor = info.context.require("profile")
        return build(User, await info.context.container.users.get_profile(actor))

    @strawberry.field(description="Workspaces the caller belongs to")
    async def workspaces(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[Workspace]:
        actor = info.context.require("workspaces:read")
        page = await info.context.container.workspaces.list_mine(actor, page_params(first, after))
        return connection(page, lambda w: build(Workspace, w))

    @strawberry.field(description="Agents of the workspace, newest first")
    async def agents(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: AgentFilter | None = None,
    ) -> Connection[Agent]:
        actor = info.context.require("agents:read")
        filter = filter or AgentFilter()
        page = await info.context.container.agents.list(
            actor,
            page_params(first, after),
            type=filter.type,
            search=filter.search,
        )
        return connection(page, lambda a: build(Agent, a))

    @strawberry.field
    async def agent(self, info: Info, id: strawberry.ID) -> Agent:
        actor = info.context.require("agents:read")
        return build(Agent, await info.context.container.agents.get(actor, id))

    @strawberry.field(description="Agent runs, newest first")
    async def runs(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        agent_id: strawberry.ID | None = None,
        status: RunStatus | None = None,
        conversation_id: strawberry.ID | None = None,
    ) -> Connection[Run]:
        actor = info.context.require("agents:read")
        page = await info.context.container.runs.list(
            actor,
            page_params(first, after),
            agent_id=agent_id,
            status=status,
            conversation_id=conversation_id,
        )
        return connection(page, lambda r: build(Run, r))

    @strawberry.field(description="A run with its steps")
    async def run(self, info: Info, id: strawberry.ID) -> Run:
        actor = info.context.require("agents:read")
        return build(Run, await info.context.container.runs.get(actor, id))

    @strawberry.field(description="An agent's conversations, newest first")
    async def conversations(
        self,
        info: Info,
        agent_id: strawberry.ID,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[Conversation]:
        actor = info.context.require("agents:read")
        page = await info.context.container.conversations.list(
            actor, agent_id, page_params(first, after)
        )
        return connection(page, lambda c: build(Conversation, c))

    @strawberry.field
    async def conversation(self, info: Info, id: strawberry.ID) -> Conversation:
        actor = info.context.require("agents:read")
        return build(Conversation, await info.context.container.conversations.get(actor, id))

    @strawberry.field(description="A conversation's messages, newest first")
    async def messages(
        self,
        info: Info,
        conversation_id: strawberry.ID,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[Message]:
        actor = info.context.require("agents:read")
        page = await info.context.container.conversations.messages(
            actor, conversation_id, page_params(first, after)
        )
        return connection(page, lambda m: build(Message, m), by_position)

    @strawberry.field(description="Workflows of the workspace, newest first")
    async def workflows(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[Workflow]:
        actor = info.context.require("workflows:read")
        page = await info.context.container.workflows.list(actor, page_params(first, after))
        return connection(page, lambda w: build(Workflow, w))

    @strawberry.field
    async def workflow(self, info: Info, id: strawberry.ID) -> Workflow:
        actor = info.context.require("workflows:read")
        return build(Workflow, await info.context.container.workflows.get(actor, id))

    @strawberry.field(description="Workflow runs (top-level), newest first")
    async def workflow_runs(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        workflow_id: strawberry.ID | None = None,
        status: WorkflowRunStatus | None = None,
    ) -> Connection[WorkflowRun]:
        actor = info.context.require("workflows:read")
        page = await info.context.container.workflow_runs.list(
            actor,
            page_params(first, after),
            workflow_id=workflow_id,
            status=status,
        )
        return connection(page, lambda r: build(WorkflowRun, r))

    @strawberry.field(description="A workflow run with its node states and approvals")
    async def workflow_run(self, info: Info, id: strawberry.ID) -> WorkflowRun:
        actor = info.context.require("workflows:read")
        detail = await info.context.container.workflow_runs.get(actor, id)
        return build(
            WorkflowRun,
            detail,
            approvals=[build(Approval, a) for a in detail.approvals],
            prefetched_nodes=[build(NodeRun, n) for n in detail.nodes],
        )

    @strawberry.field(description="Knowledge bases of the workspace, newest first")
    async def knowledge_bases(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[KnowledgeBase]:
        actor = info.context.require("knowledge:read")
        page = await info.context.container.knowledge_bases.list(actor, page_params(first, after))
        return connection(page, lambda k: build(KnowledgeBase, k))

    @strawberry.field
    async def knowledge_base(self, info: Info, id: strawberry.ID) -> KnowledgeBase:
        actor = info.context.require("knowledge:read")
        return build(KnowledgeBase, await info.context.container.knowledge_bases.get(actor, id))

    @strawberry.field(description="A knowledge base's documents, newest first")
    async def documents(
        self,
        info: Info,
        knowledge_base_id: strawberry.ID,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[Document]:
        actor = info.context.require("knowledge:read")
        page = await info.context.container.documents.list(
            actor, knowledge_base_id, page_params(first, after)
        )
        return connection(page, lambda d: build(Document, d))
