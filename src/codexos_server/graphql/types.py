"""GraphQL object types, built from the services' pydantic `*Out` shapes (never from ORM rows).

Nested lists (an agent's latest runs, a conversation's messages, …) resolve through the
request's DataLoaders, so listing many parents costs one query per nested field.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry
from pydantic import BaseModel
from strawberry.scalars import JSON

from codexos_server.agents.models import AgentType, RunStatus
from codexos_server.errors import ValidationFailed
from codexos_server.events.bus import Event
from codexos_server.graphql.context import Info
from codexos_server.rag.models import DocumentStatus
from codexos_server.workflows.models import NodeStatus
from codexos_server.workflows.models import RunStatus as WorkflowRunStatus

# The domain enums are the GraphQL enums (strawberry.enum registers the class in place).
for _enum, _name in (
    (AgentType, "AgentType"),
    (RunStatus, "RunStatus"),
    (WorkflowRunStatus, "WorkflowRunStatus"),
    (NodeStatus, "NodeStatus"),
    (DocumentStatus, "DocumentStatus"),
):
    strawberry.enum(_enum, name=_name)

MAX_NESTED = 50
T = TypeVar("T")


def build(cls: type[T], out: BaseModel, **extra: Any) -> T:
    """An instance of the GraphQL type `cls` from a service shape: same-named fields, with
    free-form values (JSON scalars) in their JSON form and datetimes and enums kept."""
    native = out.model_dump()
    as_json = out.model_dump(mode="json")
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not field.init or field.name in extra or field.name not in native:
            continue
        value = native[field.name]
        values[field.name] = value if isinstance(value, datetime | Enum) else as_json[field.name]
    return cls(**values, **extra)


def nested_limit(value: int) -> int:
    """Raises: ValidationFailed for a nested list size outside 1..50."""
    if not 1 <= value <= MAX_NESTED:
        raise ValidationFailed(
            "Invalid list size", [{"field": "last", "message": f"must be 1..{MAX_NESTED}"}]
        )
    return value


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    name: str | None
    role: str
    tier: str
    created_at: datetime
    updated_at: datetime


@strawberry.type
class Workspace:
    id: strawberry.ID
    name: str
    is_personal: bool
    owner_id: str
    role: str = strawberry.field(description="The caller's role in this workspace")
    created_at: datetime
    updated_at: datetime


@strawberry.type
class Run:
    id: strawberry.ID
    agent_id: str
    agent_version: int
    conversation_id: str | None
    status: RunStatus
    mode: str
    input: JSON
    output: str | None
    citations: JSON | None
    error: JSON | None
    usage: JSON
    cost: float
    model: str | None
    job_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    steps: JSON | None = strawberry.field(
        default=None, description="The run's steps (only on `run(id)`)"
    )


@strawberry.type
class Agent:
    id: strawberry.ID
    workspace_id: str
    name: str
    description: str | None
    type: AgentType
    instructions: str
    model: JSON
    tools: JSON
    knowledge_base_ids: list[str]
    memory: JSON
    variables: JSON
    max_steps: int
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="The agent's latest runs, newest first")
    async def runs(self, info: Info, last: int = 5) -> list[Run]:
        info.context.require("agents:read")
        items = await info.context.loaders.agent_runs.load((self.id, nested_limit(last)))
        return [build(Run, item) for item in items]


@strawberry.type
class Message:
    id: strawberry.ID
    position: int
    role: str
    content: str
    run_id: str | None
    created_at: datetime


@strawberry.type
class Conversation:
    id: strawberry.ID
    agent_id: str
    title: str | None
    summary: str | None
    message_count: int
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="The latest messages, newest first")
    async def messages(self, info: Info, last: int = 20) -> list[Message]:
        info.context.require("agents:read")
        items = await info.context.loaders.conversation_messages.load((self.id, nested_limit(last)))
        return [build(Message, item) for item in items]


@strawberry.type
class NodeRun:
    node_id: str
    node_type: str
    status: NodeStatus
    attempt: int
    input: JSON | None
    output: JSON | None
    branch: str | None
    error: JSON | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None


@strawberry.type
class Approval:
    id: strawberry.ID
    run_id: str
    node_id: str
    prompt: str
    status: str
    default_outcome: str
    expires_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    created_at: datetime


@strawberry.type
class WorkflowRun:
    id: strawberry.ID
    workflow_id: str
    workflow_version: int
    status: WorkflowRunStatus
    trigger: str
    inputs: JSON | None
    output: JSON | None
    error: JSON | None
    parent_run_id: str | None
    rerun_of: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    approvals: list[Approval] | None = strawberry.field(
        default=None, description="Approvals of the run (only on `workflowRun(id)`)"
    )
    prefetched_nodes: strawberry.Private[list[NodeRun] | None] = None

    @strawberry.field(description="The state of each node of the run")
    async def nodes(self, info: Info) -> list[NodeRun]:
        info.context.require("workflows:read")
        if self.prefetched_nodes is not None:
            return self.prefetched_nodes
        items = await info.context.loaders.run_nodes.load(self.id)
        return [build(NodeRun, item) for item in items]


@strawberry.type
class Workflow:
    id: strawberry.ID
    name: str
    description: str | None
    spec: JSON
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="The workflow's latest runs, newest first")
    async def runs(self, info: Info, last: int = 5) -> list[WorkflowRun]:
        info.context.require("workflows:read")
        items = await info.context.loaders.workflow_runs.load((self.id, nested_limit(last)))
        return [build(WorkflowRun, item) for item in items]


@strawberry.type
class Document:
    id: strawberry.ID
    knowledge_base_id: str
    name: str
    kind: str
    source: str
    source_url: str | None
    size_bytes: int
    status: DocumentStatus
    error: JSON | None
    chunk_count: int
    title: str | None
    tags: list[str]
    metadata: JSON
    created_at: datetime
    updated_at: datetime


@strawberry.type
class KnowledgeBase:
    id: strawberry.ID
    name: str
    description: str | None
    embedding: JSON
    embedding_dimensions: int
    chunking: JSON
    retrieval: JSON
    document_count: int
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="The latest documents, newest first")
    async def documents(self, info: Info, last: int = 20) -> list[Document]:
        info.context.require("knowledge:read")
        items = await info.context.loaders.kb_documents.load((self.id, nested_limit(last)))
        return [build(Document, item) for item in items]


@strawberry.type
class StreamEvent:
    """One event of the bus, as WebSocket and SSE clients see it."""

    channel: str
    seq: int
    type: str
    data: JSON
    ts: str

    @classmethod
    def of(cls, event: Event) -> StreamEvent:
        return cls(
            channel=event.channel,
            seq=event.seq,
            type=event.type,
            data=cast(JSON, dict(event.data)),
            ts=event.ts,
        )
