"""The WebSocket API (`/api/v1/ws`, docs/websocket.md): channel subscriptions and chat as
async iterators, over one connection or one per call."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from codexos._core import BaseClient
from codexos.errors import CodexOSError
from codexos.types import APIModel

HEARTBEAT_SECONDS = 20.0
_CLOSED: dict[str, Any] = {"type": "__closed__"}


class RealtimeError(CodexOSError):
    """An `error` frame, or a connection that closed or refused to authenticate."""

    def __init__(self, message: str, *, code: str = "", details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class RealtimeEvent(APIModel):
    """An event of a subscribed channel (`run:<id>`, `workflow_run:<id>`, ...)."""

    channel: str
    seq: int
    type: str
    data: dict[str, Any] = {}
    ts: str | None = None


class ChatFrame(APIModel):
    """`chat.started`, `token` (with `delta`) or `message.completed` (with `output`)."""

    type: str
    id: str | None = None
    conversation_id: str | None = None
    run_id: str | None = None
    delta: str | None = None
    status: str | None = None
    output: str | None = None
    error: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None


class CancelledFrame(APIModel):
    """The answer to `cancel`: the run and its status after the cancel request."""

    type: str
    id: str | None = None
    run_id: str | None = None
    workflow_run_id: str | None = None
    status: str


def ws_url(base_url: str) -> str:
    scheme, rest = base_url.split("://", 1)
    return ("wss" if scheme == "https" else "ws") + "://" + rest + "/ws"


class RealtimeConnection:
    """One authenticated WebSocket; frames are routed to the iterator that asked for them."""

    def __init__(self, client: BaseClient) -> None:
        self._client = client
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._by_channel: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._by_id: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    async def __aenter__(self) -> RealtimeConnection:
        self._ws = await connect(ws_url(self._client.base_url), open_timeout=10)
        auth = {"type": "auth", "token": self._client.tokens.bearer}
        if self._client.workspace_id:
            auth["workspace_id"] = self._client.workspace_id
        try:
            await self._ws.send(json.dumps(auth))
            reply = json.loads(await asyncio.wait_for(self._ws.recv(), 10))
        except ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else "connection closed"
            code, _, message = reason.partition(": ")
            raise RealtimeError(message or reason, code=code) from exc
        if reply.get("type") != "auth.ok":
            await self._ws.close()
            raise RealtimeError(
                str(reply.get("message", "authentication failed")), code=str(reply.get("code"))
            )
        self._tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._heartbeat()),
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ws is not None:
            await self._ws.close()

    async def _send(self, frame: dict[str, Any]) -> None:
        if self._ws is None:
            raise RealtimeError("not connected; use `async with client.realtime.connect()`")
        await self._ws.send(json.dumps({k: v for k, v in frame.items() if v is not None}))

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                frame = json.loads(raw)
                channel = frame.get("channel")
                if channel is not None and "seq" in frame and channel in self._by_channel:
                    self._by_channel[channel].put_nowait(frame)
                elif frame.get("id") in self._by_id:
                    self._by_id[frame["id"]].put_nowait(frame)
        except ConnectionClosed:
            pass
        finally:
            for queue in [*self._by_channel.values(), *self._by_id.values()]:
                queue.put_nowait(_CLOSED)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self._send({"type": "ping"})

    @staticmethod
    def _check(frame: dict[str, Any]) -> dict[str, Any]:
        if frame is _CLOSED:
            raise RealtimeError("connection closed")
        if frame.get("type") == "error":
            raise RealtimeError(
                str(frame.get("message")), code=str(frame.get("code")), details=frame.get("details")
            )
        return frame

    async def subscribe(
        self, channel: str, *, after_seq: int | None = None
    ) -> AsyncIterator[RealtimeEvent]:
        """The channel's events (replayed after `after_seq`, then live) until you stop."""
        frame_id = f"s{next(self._ids)}"
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._by_channel[channel] = events
        self._by_id[frame_id] = replies
        try:
            await self._send(
                {"type": "subscribe", "id": frame_id, "channel": channel, "after_seq": after_seq}
            )
            self._check(await replies.get())
            while True:
                frame = await events.get()
                if frame is _CLOSED:
                    return
                yield RealtimeEvent.model_validate(frame)
        finally:
            self._by_channel.pop(channel, None)
            self._by_id.pop(frame_id, None)

    async def chat(
        self,
        agent_id: str,
        message: str,
        *,
        conversation_id: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> AsyncIterator[ChatFrame]:
        """Run the agent on `message`: `chat.started`, `token`s, then `message.completed`."""
        frame_id = f"c{next(self._ids)}"
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._by_id[frame_id] = replies
        try:
            await self._send(
                {
                    "type": "chat",
                    "id": frame_id,
                    "agent_id": agent_id,
                    "message": message,
                    "conversation_id": conversation_id,
                    "variables": variables,
                }
            )
            while True:
                frame = ChatFrame.model_validate(self._check(await replies.get()))
                yield frame
                if frame.type == "message.completed":
                    return
        finally:
            self._by_id.pop(frame_id, None)

    async def cancel(
        self, *, run_id: str | None = None, workflow_run_id: str | None = None
    ) -> CancelledFrame:
        """Cancel an agent run (`run_id`) or a workflow run (`workflow_run_id`)."""
        if (run_id is None) == (workflow_run_id is None):
            raise ValueError("pass exactly one of run_id and workflow_run_id")
        frame_id = f"x{next(self._ids)}"
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._by_id[frame_id] = replies
        try:
            await self._send(
                {
                    "type": "cancel",
                    "id": frame_id,
                    "run_id": run_id,
                    "workflow_run_id": workflow_run_id,
                }
            )
            return CancelledFrame.model_validate(self._check(await replies.get()))
        finally:
            self._by_id.pop(frame_id, None)


class Realtime:
    """`client.realtime`: `connect()` for one shared connection, or `subscribe`/`chat`
    each on a connection of its own."""

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def connect(self) -> RealtimeConnection:
        return RealtimeConnection(self._client)

    async def subscribe(
        self, channel: str, *, after_seq: int | None = None
    ) -> AsyncIterator[RealtimeEvent]:
        async with self.connect() as conn:
            async for event in conn.subscribe(channel, after_seq=after_seq):
                yield event

    async def chat(
        self,
        agent_id: str,
        message: str,
        *,
        conversation_id: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> AsyncIterator[ChatFrame]:
        async with self.connect() as conn:
            async for frame in conn.chat(
                agent_id, message, conversation_id=conversation_id, variables=variables
            ):
                yield frame

    async def cancel(
        self, *, run_id: str | None = None, workflow_run_id: str | None = None
    ) -> CancelledFrame:
        async with self.connect() as conn:
            return await conn.cancel(run_id=run_id, workflow_run_id=workflow_run_id)
