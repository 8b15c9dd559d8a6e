"""Mutation fields: the REST route's scope, the REST body model, the same service method."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from codexos_server.agents.schemas import (
    AgentCreate,
    AgentUpdate,
    ConversationCreate,
    ExecuteRequest,
)
from codexos_server.graphql.context import Info
from codexos_server.graphql.inputs import (
    AgentCreateInput,
    AgentUpdateInput,
    ConversationCreateInput,
    ExecuteInput,
    KnowledgeBaseCreateInput,
    WorkflowCreateInput,
    WorkflowUpdateInput,
    to_model,
)
from codexos_server.graphql.marketplace import MarketplaceMutations
from codexos_server.graphql.types import (
    Agent,
    Approval,
    Conversation,
    KnowledgeBase,
    Run,
    Workflow,
    WorkflowRun,
    build,
)
from codexos_server.rag.schemas import KnowledgeBaseCreate
from codexos_server.workflows.schemas import RunCreate, WorkflowCreate, WorkflowUpdate


@strawberry.type
class Mutation(MarketplaceMutations):
    # -- agents ---------------------------------------------------------------------------

    @strawberry.mutation
    async def create_agent(self, info: Info, input: AgentCreateInput) -> Agent:
        actor = info.context.require("agents:write")
        out = await info.context.container.agents.create(actor, to_model(AgentCreate, input))
        return build(Agent, out)

    @strawberry.mutation(description="Update an agent (a new version)")
    async def update_agent(self, info: Info, id: strawberry.ID, input: AgentUpdateInput) -> Agent:
        actor = info.context.require("agents:write")
        body = to_model(AgentUpdate, input)
        return build(Agent, await info.context.container.agents.update(actor, id, body))

    @strawberry.mutation(description="Delete an agent; true when done")
    async def delete_agent(self, info: Info, id: strawberry.ID) -> bool:
        actor = info.context.require("agents:write")
        await info.context.container.agents.delete(actor, id)
        return True

    @strawberry.mutation(
        description="Run an agent: the finished run, or with `runAsync` the queued run. "
        "Stream tokens with the `chat` subscription."
    )
    async def execute_agent(
        self,
        info: Info,
        id: strawberry.ID,
        input: ExecuteInput,
        idempotency_key: str | None = None,
    ) -> Run:
        actor = info.context.require("agents:execute")
        run_async = bool(input.run_async)
        input.run_async = strawberry.UNSET
        body = to_model(ExecuteRequest, input)
        runs = info.context.container.runs
        if run_async:
            return build(Run, await runs.submit(actor, id, body, idempotency_key))
        return build(Run, await runs.execute(actor, id, body, idempotency_key))

    @strawberry.mutation(description="Cancel a run")
    async def cancel_run(self, info: Info, id: strawberry.ID) -> Run:
        actor = info.context.require("agents:execute")
        return build(Run, await info.context.container.runs.cancel(actor, id))

    @strawberry.mutation(description="Start a conversation with an agent")
    async def create_conversation(
        self, info: Info, agent_id: strawberry.ID, input: ConversationCreateInput | None = None
    ) -> Conversation:
        actor = info.context.require("agents:execute")
        body = to_model(ConversationCreate, input)
        out = await info.context.container.conversations.create(actor, agent_id, body)
        return build(Conversation, out)

    @strawberry.mutation(description="Send a message in a conversation; the agent answers")
    async def send_message(self, info: Info, conversation_id: strawberry.ID, content: str) -> Run:
        actor = info.context.require("agents:execute")
        conversation = await info.context.container.conversations.get(actor, conversation_id)
        body = to_model(ExecuteRequest, {"input_data": content, "conversation_id": conversation_id})
        return build(
            Run, await info.context.container.runs.execute(actor, conversation.agent_id, body)
        )

    # -- workflows ------------------------------------------------------------------------

    @strawberry.mutation
    async def create_workflow(self, info: Info, input: WorkflowCreateInput) -> Workflow:
        actor = info.context.require("workflows:write")
        out = await info.context.container.workflows.create(actor, to_model(WorkflowCreate, input))
        return build(Workflow, out)

    @strawberry.mutation(description="Update a workflow (a spec change is a new version)")
    async def update_workflow(
        self, info: Info, id: strawberry.ID, input: WorkflowUpdateInput
    ) -> Workflow:
        actor = info.context.require("workflows:write")
        body = to_model(WorkflowUpdate, input)
        return build(Workflow, await info.context.container.workflows.update(actor, id, body))

    @strawberry.mutation(description="Delete a workflow; true when done")
    async def delete_workflow(self, info: Info, id: strawberry.ID) -> bool:
        actor = info.context.require("workflows:write")
        await info.context.container.workflows.delete(actor, id)
        return True

    @strawberry.mutation(description="Start a run of the workflow's current version")
    async def run_workflow(
        self,
        info: Info,
        id: strawberry.ID,
        inputs: JSON | None = None,
        idempotency_key: str | None = None,
    ) -> WorkflowRun:
        actor = info.context.require("workflows:execute")
        body = to_model(RunCreate, {"inputs": inputs} if inputs is not None else {})
        out, _ = await info.context.container.workflow_runs.start(
            actor, id, body.inputs, idempotency_key
        )
        return build(WorkflowRun, out)

    @strawberry.mutation
    async def cancel_workflow_run(self, info: Info, id: strawberry.ID) -> WorkflowRun:
        actor = info.context.require("workflows:execute")
        return build(WorkflowRun, await info.context.container.workflow_runs.cancel(actor, id))

    @strawberry.mutation(description="Approve a pending approval node of a run")
    async def approve(
        self, info: Info, run_id: strawberry.ID, node_id: str, comment: str | None = None
    ) -> Approval:
        actor = info.context.require("workflows:execute")
        runs = info.context.container.workflow_runs
        return build(Approval, await runs.decide(actor, run_id, node_id, True, comment))

    @strawberry.mutation(description="Reject a pending approval node of a run")
    async def reject(
        self, info: Info, run_id: strawberry.ID, node_id: str, comment: str | None = None
    ) -> Approval:
        actor = info.context.require("workflows:execute")
        runs = info.context.container.workflow_runs
        return build(Approval, await runs.decide(actor, run_id, node_id, False, comment))

    # -- knowledge ------------------------------------------------------------------------

    @strawberry.mutation
    async def create_knowledge_base(
        self, info: Info, input: KnowledgeBaseCreateInput
    ) -> KnowledgeBase:
        actor = info.context.require("knowledge:write")
        body = to_model(KnowledgeBaseCreate, input)
        return build(
            KnowledgeBase, await info.context.container.knowledge_bases.create(actor, body)
        )

    @strawberry.mutation(description="Delete a knowledge base with its documents; true when done")
    async def delete_knowledge_base(self, info: Info, id: strawberry.ID) -> bool:
        actor = info.context.require("knowledge:write")
        await info.context.container.knowledge_bases.delete(actor, id)
        return True
