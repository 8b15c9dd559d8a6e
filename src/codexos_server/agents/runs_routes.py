"""Run and conversation endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status

from codexos_server.agents.models import RunStatus
from codexos_server.agents.routes import (
    ConversationServiceDep,
    Executor,
    Reader,
    RunServiceDep,
)
from codexos_server.agents.schemas import (
    ChatRequestBody,
    ConversationOut,
    ExecuteRequest,
    MessageOut,
    RunDetail,
    RunOut,
)
from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep
from codexos_server.sse import ResumeAfter, sse_response, wants_event_stream

router = APIRouter(tags=["runs"])
Writer = Annotated[Principal, scoped("agents:write")]


@router.get("/runs", operation_id="runs_list", summary="List runs")
async def list_runs(
    runs: RunServiceDep,
    page: PageParamsDep,
    principal: Reader,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[RunStatus | None, Query()] = None,
    conversation_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[RunOut]:
    return await runs.list(
        principal, page, agent_id=agent_id, status=status, conversation_id=conversation_id
    )


@router.get(
    "/runs/{run_id}",
    operation_id="runs_get",
    summary="Get a run with its steps",
    responses=errors(404),
)
async def get_run(run_id: str, runs: RunServiceDep, principal: Reader) -> RunDetail:
    return await runs.get(principal, run_id)


@router.post(
    "/runs/{run_id}/cancel",
    operation_id="runs_cancel",
    summary="Cancel a run",
    responses=errors(403, 404),
)
async def cancel_run(run_id: str, runs: RunServiceDep, principal: Executor) -> RunOut:
    """A queued run is cancelled at once; a running one stops between its steps."""
    return await runs.cancel(principal, run_id)


@router.get(
    "/runs/{run_id}/events",
    operation_id="runs_events",
    summary="Stream a run's events (SSE)",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}}}, **errors(404)},
)
async def run_events(
    run_id: str,
    runs: RunServiceDep,
    principal: Reader,
    start: ResumeAfter,
) -> Any:
    """Server-sent events of a run, replaying the buffered ones after `Last-Event-ID` (or
    `after_seq`); ends with the run's final `run.<status>` event."""
    return sse_response(await runs.events_of(principal, run_id, start))


@router.get(
    "/conversations/{conversation_id}",
    operation_id="conversations_get",
    summary="Get a conversation",
    responses=errors(404),
)
async def get_conversation(
    conversation_id: str, conversations: ConversationServiceDep, principal: Reader
) -> ConversationOut:
    return await conversations.get(principal, conversation_id)


@router.delete(
    "/conversations/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="conversations_delete",
    summary="Delete a conversation",
    responses=errors(403, 404),
)
async def delete_conversation(
    conversation_id: str, conversations: ConversationServiceDep, principal: Writer
) -> None:
    await conversations.delete(principal, conversation_id)


@router.get(
    "/conversations/{conversation_id}/messages",
    operation_id="conversations_messages",
    summary="List a conversation's messages (newest first)",
    responses=errors(404),
)
async def list_messages(
    conversation_id: str,
    conversations: ConversationServiceDep,
    page: PageParamsDep,
    principal: Reader,
) -> Page[MessageOut]:
    return await conversations.messages(principal, conversation_id, page)


@router.post(
    "/conversations/{conversation_id}/messages",
    operation_id="conversations_send",
    summary="Send a message; the agent answers (a run)",
    response_model=RunOut,
    responses={200: {"content": {"text/event-stream": {}}}, **errors(403, 404)},
)
async def send_message(
    conversation_id: str,
    body: ChatRequestBody,
    request: Request,
    conversations: ConversationServiceDep,
    runs: RunServiceDep,
    principal: Executor,
) -> Any:
    conversation = await conversations.get(principal, conversation_id)
    execute = ExecuteRequest(
        input_data=body.content, conversation_id=conversation_id, variables=body.variables
    )
    if body.stream or wants_event_stream(request.headers.get("accept")):
        return sse_response(await runs.stream(principal, conversation.agent_id, execute))
    return await runs.execute(principal, conversation.agent_id, execute)
