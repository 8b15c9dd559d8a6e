"""One authenticated WebSocket connection: its subscriptions, chats and cancels.

Tasks per connection: the sender (outbox.py) and one task per chat in flight; subscriptions
hand their events straight to the outbox (`Subscription.forward_to`). `close()` ends them all.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from codexos_server.agents.runs import TERMINAL_EVENTS
from codexos_server.agents.schemas import ConversationCreate, ExecuteRequest
from codexos_server.auth.principal import Principal
from codexos_server.container import Container
from codexos_server.errors import AppError, AuthorizationFailed, RateLimitExceeded
from codexos_server.events.bus import Subscription
from codexos_server.log import get_logger
from codexos_server.realtime.channels import authorize_channel
from codexos_server.realtime.outbox import Outbox
from codexos_server.realtime.protocol import (
    Cancel,
    Chat,
    ClientFrame,
    Ping,
    Subscribe,
    Unsubscribe,
    error_frame,
)

log = get_logger("codexos.realtime")

MAX_CHATS = 8  # chats in flight per connection


def _require_scope(principal: Principal, scope: str) -> None:
    if not principal.has_scope(scope):
        raise AuthorizationFailed(
            f"This credential lacks the '{scope}' scope", {"required_scope": scope}
        )


class Session:
    def __init__(self, container: Container, principal: Principal, outbox: Outbox) -> None:
        self.container = container
        self.principal = principal
        self.outbox = outbox
        self.settings = container.settings
        self._subscriptions: dict[str, Subscription] = {}
        self._chats: set[asyncio.Task[None]] = set()

    async def handle(self, frame: ClientFrame) -> None:
        """Answer one frame. A refusal (AppError) becomes an `error` frame."""
        try:
            if isinstance(frame, Ping):
                self.outbox.put({"type": "pong", "id": frame.id})
            elif isinstance(frame, Subscribe):
                await self._subscribe(frame)
            elif isinstance(frame, Unsubscribe):
                await self._unsubscribe(frame)
            elif isinstance(frame, Chat):
                self._start_chat(frame)
            elif isinstance(frame, Cancel):
                await self._cancel(frame)
        except AppError as exc:
            self.outbox.put(error_frame(frame.id, exc.code, exc.message, exc.details))

    async def _subscribe(self, frame: Subscribe) -> None:
        channel = frame.channel
        if (
            channel not in self._subscriptions
            and len(self._subscriptions) >= self.settings.ws_max_subscriptions
        ):
            raise RateLimitExceeded(
                f"At most {self.settings.ws_max_subscriptions} subscriptions per connection",
                retry_after=1,
            )
        await authorize_channel(self.container.db, self.principal, channel)
        await self._drop(channel)  # subscribing again restarts from `after_seq`
        subscription = await self.container.events.subscribe(
            channel, after_seq=frame.after_seq, max_queue=self.settings.ws_queue_size
        )
        # Queued before any event, so `subscribed` precedes the channel's events; from then
        # on the bus hands events straight to the outbox (no task per subscription).
        self.outbox.put({"type": "subscribed", "id": frame.id, "channel": channel})
        subscription.forward_to(self.outbox.put)
        self._subscriptions[channel] = subscription

    async def _unsubscribe(self, frame: Unsubscribe) -> None:
        await self._drop(frame.channel)
        self.outbox.put({"type": "unsubscribed", "id": frame.id, "channel": frame.channel})

    async def _drop(self, channel: str) -> None:
        subscription = self._subscriptions.pop(channel, None)
        if subscription is not None:
            await subscription.close()

    def _start_chat(self, frame: Chat) -> None:
        if len(self._chats) >= MAX_CHATS:
            raise RateLimitExceeded(
                f"At most {MAX_CHATS} chats in flight per connection", retry_after=1
            )
        task = asyncio.create_task(self._chat(frame), name="ws-chat")
        self._chats.add(task)
        task.add_done_callback(self._chats.discard)

    async def _chat(self, frame: Chat) -> None:
        try:
            await self._stream_chat(frame)
        except AppError as exc:
            self.outbox.put(error_frame(frame.id, exc.code, exc.message, exc.details))
        except Exception:  # a bug: log it, tell the client, keep the connection
            log.exception("websocket chat failed", agent_id=frame.agent_id)
            self.outbox.put(error_frame(frame.id, "INTERNAL_ERROR", "The chat failed"))

    async def _stream_chat(self, frame: Chat) -> None:
        """The same service path as `POST /conversations/{id}/messages` with streaming; a
        conversation is started first when none is given."""
        principal = self.principal
        _require_scope(principal, "agents:execute")
        conversation_id = frame.conversation_id
        if conversation_id is None:
            created = await self.container.conversations.create(
                principal, frame.agent_id, ConversationCreate()
            )
            conversation_id = created.id
        events = await self.container.runs.stream(
            principal,
            frame.agent_id,
            ExecuteRequest(
                input_data=frame.message,
                conversation_id=conversation_id,
                variables=frame.variables,
            ),
        )
        ids: dict[str, Any] = {"id": frame.id, "conversation_id": conversation_id}
        try:
            async for event in events:
                if "run_id" not in ids:
                    ids["run_id"] = event.channel.partition(":")[2]
                    self.outbox.put({"type": "chat.started", **ids})
                if event.type == "token":
                    self.outbox.put({"type": "token", **ids, "delta": event.data.get("delta")})
                elif event.type in TERMINAL_EVENTS:
                    data = event.data
                    self.outbox.put(
                        {
                            "type": "message.completed",
                            **ids,
                            "status": data.get("status"),
                            "output": data.get("output"),
                            "error": data.get("error"),
                            "usage": data.get("usage"),
                        }
                    )
        finally:
            # Closing the stream cancels a run still going (the client went away).
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _cancel(self, frame: Cancel) -> None:
        principal = self.principal
        reply: dict[str, Any] = {"type": "cancelled", "id": frame.id}
        if frame.run_id is not None:
            _require_scope(principal, "agents:execute")
            run = await self.container.runs.cancel(principal, frame.run_id)
            reply.update(run_id=run.id, status=run.status)
        elif frame.workflow_run_id is not None:
            _require_scope(principal, "workflows:execute")
            wf_run = await self.container.workflow_runs.cancel(principal, frame.workflow_run_id)
            reply.update(workflow_run_id=wf_run.id, status=wf_run.status)
        self.outbox.put(reply)

    async def close(self) -> None:
        """Stop every task of the connection and release its subscriptions."""
        for channel in list(self._subscriptions):
            await self._drop(channel)
        chats = list(self._chats)
        for task in chats:
            task.cancel()
        for task in chats:
            with contextlib.suppress(asyncio.CancelledError):
                await task
