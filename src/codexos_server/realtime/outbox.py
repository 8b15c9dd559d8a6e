"""The outgoing side of one WebSocket: a bounded queue drained by a single sender task.

Everything a connection sends after authentication goes through its Outbox, so there is
exactly one writer per socket and a slow client only ever costs its own queue: when the
queue is full the oldest frame is dropped and the next frame the client gets is `lagged`,
saying how many were dropped and, per channel, from which seq to resubscribe.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict, deque
from typing import Any

from starlette.websockets import WebSocket

from codexos_server.events.bus import Event

Frame = Event | dict[str, Any]

_ENCODED_CACHE = 4096
_encoded: OrderedDict[tuple[str, int, str, str], str] = OrderedDict()


def encode(frame: Frame) -> str:
    """JSON text of a frame. An event is sent as exactly `Event.as_dict()`; the same Event
    object fanned out to many connections is serialized once (a small per-process cache)."""
    if not isinstance(frame, Event):
        return json.dumps(frame, separators=(",", ":"), default=str)
    key = (frame.channel, frame.seq, frame.type, frame.ts)
    text = _encoded.get(key)
    if text is None:
        text = json.dumps(frame.as_dict(), separators=(",", ":"), default=str)
        _encoded[key] = text
        if len(_encoded) > _ENCODED_CACHE:
            _encoded.popitem(last=False)
    return text


class Outbox:
    def __init__(self, size: int) -> None:
        self.size = size
        self._queue: deque[Frame] = deque()
        self._ready = asyncio.Event()
        self._dropped = 0
        self._resume: dict[str, int] = {}  # channel → seq to resubscribe after
        self._close: tuple[int, str] | None = None

    def put(self, frame: Frame) -> None:
        """Queue a frame (never blocks); drops the oldest one when full."""
        if self._close is not None:
            return
        if len(self._queue) >= self.size:
            oldest = self._queue.popleft()
            self._dropped += 1
            if isinstance(oldest, Event):
                seq = self._resume.get(oldest.channel)
                after = oldest.seq - 1
                self._resume[oldest.channel] = after if seq is None else min(seq, after)
        self._queue.append(frame)
        self._ready.set()

    def close(self, code: int, reason: str) -> None:
        """Ask the sender to close the socket after the frames already queued."""
        if self._close is None:
            self._close = (code, reason)
            self._ready.set()

    async def next(self) -> str | tuple[int, str]:
        """The next text to send, or the close (code, reason) once the queue is drained."""
        while True:
            if self._dropped:
                frame: dict[str, Any] = {
                    "type": "lagged",
                    "dropped": self._dropped,
                    "resume_after_seq": self._resume,
                }
                self._dropped, self._resume = 0, {}
                return encode(frame)
            if self._queue:
                return encode(self._queue.popleft())
            if self._close is not None:
                return self._close
            self._ready.clear()
            await self._ready.wait()


async def run_sender(websocket: WebSocket, outbox: Outbox) -> None:
    """The one task that writes to the socket. Ends after sending the close, or when the
    peer is gone (sending then raises; the receive loop sees the disconnect too)."""
    while True:
        item = await outbox.next()
        if isinstance(item, tuple):
            await websocket.close(item[0], item[1])
            return
        await websocket.send_text(item)
