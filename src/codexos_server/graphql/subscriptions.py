"""Subscriptions (graphql-transport-ws) from the same event bus as WebSocket and SSE.

Channels are authorized by `realtime.channels.authorize_channel`, the rule the WebSocket
endpoint uses too; the events come from the services' own followers (replay after
`afterSeq`, then live, ending with the run's final event), and `chat` reuses the agent
RunService's streaming path, so no loop is written twice.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import strawberry

from codexos_server.agents.runtime import run_channel
from codexos_server.agents.schemas import ExecuteRequest
from codexos_server.events.bus import Event
from codexos_server.graphql.context import Info
from codexos_server.graphql.inputs import to_model
from codexos_server.graphql.types import StreamEvent
from codexos_server.realtime.channels import authorize_channel
from codexos_server.workflows.state import run_channel as workflow_run_channel


async def _relay(events: AsyncIterator[Event]) -> AsyncGenerator[StreamEvent, None]:
    """Yield the events; when the client stops, close the source (a streamed run stops)."""
    try:
        async for event in events:
            yield StreamEvent.of(event)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="A run's events (replaying those after `afterSeq`) until it ends"
    )
    async def run_events(
        self, info: Info, run_id: strawberry.ID, after_seq: int = 0
    ) -> AsyncGenerator[StreamEvent, None]:
        ctx = info.context
        actor = ctx.require_any()
        await authorize_channel(ctx.container.db, actor, run_channel(run_id))
        events = await ctx.container.runs.events_of(actor, run_id, max(0, after_seq))
        async for event in _relay(events):
            yield event

    @strawberry.subscription(
        description="A workflow run's events (replaying those after `afterSeq`) until it ends"
    )
    async def workflow_run_events(
        self, info: Info, run_id: strawberry.ID, after_seq: int = 0
    ) -> AsyncGenerator[StreamEvent, None]:
        ctx = info.context
        actor = ctx.require_any()
        await authorize_channel(ctx.container.db, actor, workflow_run_channel(run_id))
        events = await ctx.container.workflow_runs.events_of(actor, run_id, max(0, after_seq))
        async for event in _relay(events):
            yield event

    @strawberry.subscription(
        description="Send a message to an agent and stream the answer: `token` events, tool "
        "calls, then the final `run.<status>` event. Stopping the subscription cancels the run."
    )
    async def chat(
        self,
        info: Info,
        agent_id: strawberry.ID,
        message: str,
        conversation_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        ctx = info.context
        actor = ctx.require("agents:execute")
        body = to_model(ExecuteRequest, {"input_data": message, "conversation_id": conversation_id})
        events = await ctx.container.runs.stream(actor, agent_id, body)
        async for event in _relay(events):
            yield event
