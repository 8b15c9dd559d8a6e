"""Agent endpoints: definitions, versions, execution, conversations of an agent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, status
from fastapi.responses import JSONResponse

from codexos_server.agents.conversations import ConversationService
from codexos_server.agents.models import AgentType
from codexos_server.agents.runs import RunService
from codexos_server.agents.schemas import (
    AgentCreate,
    AgentOut,
    AgentUpdate,
    AgentVersionOut,
    ConversationCreate,
    ConversationOut,
    ExecuteRequest,
    RunOut,
)
from codexos_server.agents.service import AgentService
from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep
from codexos_server.sse import sse_response, wants_event_stream

router = APIRouter(prefix="/agents", tags=["agents"])


async def _agents(request: Request) -> AgentService:
    return get_container(request).agents


async def _runs(request: Request) -> RunService:
    return get_container(request).runs


async def _conversations(request: Request) -> ConversationService:
    return get_container(request).conversations


AgentServiceDep = Annotated[AgentService, Depends(_agents)]
RunServiceDep = Annotated[RunService, Depends(_runs)]
ConversationServiceDep = Annotated[ConversationService, Depends(_conversations)]
Reader = Annotated[Principal, scoped("agents:read")]
Writer = Annotated[Principal, scoped("agents:write")]
Executor = Annotated[Principal, scoped("agents:execute")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="Same key + same body → same run"),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="agents_create",
    summary="Create an agent",
    responses=errors(403),
)
async def create_agent(body: AgentCreate, agents: AgentServiceDep, principal: Writer) -> AgentOut:
    return await agents.create(principal, body)


@router.get("", operation_id="agents_list", summary="List agents")
async def list_agents(
    agents: AgentServiceDep,
    page: PageParamsDep,
    principal: Reader,
    type: Annotated[AgentType | None, Query(description="Only agents of this type")] = None,
    search: Annotated[
        str | None, Query(max_length=200, description="Text in the name or description")
    ] = None,
) -> Page[AgentOut]:
    return await agents.list(principal, page, type=type, search=search)


@router.get("/{agent_id}", operation_id="agents_get", summary="Get an agent", responses=errors(404))
async def get_agent(agent_id: str, agents: AgentServiceDep, principal: Reader) -> AgentOut:
    return await agents.get(principal, agent_id)


@router.patch(
    "/{agent_id}",
    operation_id="agents_update",
    summary="Update an agent (new version)",
    responses=errors(403, 404),
)
async def update_agent(
    agent_id: str, body: AgentUpdate, agents: AgentServiceDep, principal: Writer
) -> AgentOut:
    return await agents.update(principal, agent_id, body)


@router.delete(
    "/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="agents_delete",
    summary="Delete an agent",
    responses=errors(403, 404),
)
async def delete_agent(agent_id: str, agents: AgentServiceDep, principal: Writer) -> None:
    await agents.delete(principal, agent_id)


@router.post(
    "/{agent_id}/duplicate",
    status_code=status.HTTP_201_CREATED,
    operation_id="agents_duplicate",
    summary="Duplicate an agent",
    responses=errors(403, 404),
)
async def duplicate_agent(agent_id: str, agents: AgentServiceDep, principal: Writer) -> AgentOut:
    return await agents.duplicate(principal, agent_id)


@router.get(
    "/{agent_id}/versions",
    operation_id="agents_versions",
    summary="List an agent's versions",
    responses=errors(404),
)
async def list_versions(
    agent_id: str, agents: AgentServiceDep, principal: Reader
) -> list[AgentVersionOut]:
    return await agents.versions(principal, agent_id)


@router.get(
    "/{agent_id}/versions/{version}",
    operation_id="agents_version",
    summary="Get one version",
    responses=errors(404),
)
async def get_version(
    agent_id: str,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    agents: AgentServiceDep,
    principal: Reader,
) -> AgentVersionOut:
    return await agents.version(principal, agent_id, version)


@router.post(
    "/{agent_id}/execute",
    operation_id="agents_execute",
    summary="Execute an agent",
    response_model=RunOut,
    responses={
        202: {
            "model": RunOut,
            "description": "`async: true`: the run is queued as a background job",
        },
        200: {
            "description": "The finished run; with `stream: true` or `Accept: text/event-stream`, "
            "server-sent events (`token`, `tool_call`, `tool_result`, `run.<status>`)",
            "content": {"text/event-stream": {}},
        },
        **errors(403, 404, 409),
    },
)
async def execute_agent(
    agent_id: str,
    body: ExecuteRequest,
    request: Request,
    runs: RunServiceDep,
    principal: Executor,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Run the agent on `input_data`. Synchronous by default (the finished run); `async: true`
    returns 202 with the queued run; `stream: true` streams its events. Continue a
    conversation with `conversation_id`."""
    if body.stream or wants_event_stream(request.headers.get("accept")):
        return sse_response(await runs.stream(principal, agent_id, body, idempotency_key))
    if body.run_async:
        run = await runs.submit(principal, agent_id, body, idempotency_key)
        return JSONResponse(run.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    return await runs.execute(principal, agent_id, body, idempotency_key)


@router.post(
    "/{agent_id}/conversations",
    status_code=status.HTTP_201_CREATED,
    operation_id="conversations_create",
    summary="Start a conversation",
    responses=errors(403, 404),
)
async def create_conversation(
    agent_id: str,
    body: ConversationCreate,
    conversations: ConversationServiceDep,
    principal: Executor,
) -> ConversationOut:
    return await conversations.create(principal, agent_id, body)


@router.get(
    "/{agent_id}/conversations",
    operation_id="conversations_list",
    summary="List an agent's conversations",
    responses=errors(404),
)
async def list_conversations(
    agent_id: str, conversations: ConversationServiceDep, page: PageParamsDep, principal: Reader
) -> Page[ConversationOut]:
    return await conversations.list(principal, agent_id, page)
