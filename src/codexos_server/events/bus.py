"""The EventBus port, the Event shape and the Subscription every adapter hands out."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Event:
    """One event. `seq` grows by one per channel; `ts` is an ISO-8601 UTC timestamp."""

    channel: str
    seq: int
    type: str
    data: Mapping[str, Any]
    ts: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "seq": self.seq,
            "type": self.type,
            "data": dict(self.data),
            "ts": self.ts,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Event:
        return cls(
            str(raw["channel"]),
            int(raw["seq"]),
            str(raw["type"]),
            dict(raw["data"]),
            str(raw["ts"]),
        )


def workspace_channel(workspace_id: str) -> str:
    """The channel with the status events of everything in a workspace (runs, workflow runs,
    documents, jobs)."""
    return f"workspace:{workspace_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


LAGGED = "lagged"


@dataclass(eq=False)
class Subscription:
    """A subscriber's bounded queue. A consumer that falls behind never blocks publishers:
    the oldest events are dropped and a `lagged` event tells it how many it missed (it can
    resubscribe with `after_seq` to fetch them from the replay buffer)."""

    channel: str
    max_queue: int
    _close: Callable[[Subscription], Awaitable[None]]
    _queue: deque[Event] = field(default_factory=deque)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _dropped: int = 0
    _last_seq: int = 0
    _closed: bool = False
    _sink: Callable[[Event], None] | None = None

    def deliver(self, event: Event) -> None:
        """Called by the adapter for each live event (never blocks)."""
        if event.seq <= self._last_seq or self._closed:
            return  # already delivered from the replay buffer
        if self._sink is not None:
            self._last_seq = event.seq
            self._sink(event)
            return
        if len(self._queue) >= self.max_queue:
            self._queue.popleft()
            self._dropped += 1
        self._queue.append(event)
        self._last_seq = event.seq
        self._ready.set()

    def _prime(self, history: list[Event], after_seq: int) -> None:
        """Queue replayed events before any live one; live duplicates are then skipped."""
        self._last_seq = max(self._last_seq, after_seq)
        pending = list(self._queue)
        self._queue.clear()
        for event in history:
            if event.seq > self._last_seq:
                self._queue.append(event)
                self._last_seq = event.seq
        for event in pending:
            if event.seq > self._last_seq:
                self._queue.append(event)
                self._last_seq = event.seq
        while len(self._queue) > self.max_queue:
            self._queue.popleft()
            self._dropped += 1
        if self._queue:
            self._ready.set()

    async def get(self) -> Event:
        """The next event; a synthetic `lagged` event first if some were dropped."""
        while True:
            if self._dropped:
                dropped, self._dropped = self._dropped, 0
                first = self._queue[0].seq if self._queue else self._last_seq + 1
                return Event(
                    self.channel,
                    first - 1,
                    LAGGED,
                    {"dropped": dropped, "resume_after_seq": first - 1 - dropped},
                    now_iso(),
                )
            if self._queue:
                return self._queue.popleft()
            self._ready.clear()
            await self._ready.wait()

    def forward_to(self, sink: Callable[[Event], None]) -> None:
        """Hand every event (the queued ones now, live ones as they come) to `sink` instead
        of queuing them: a consumer with its own bounded queue (a WebSocket's outbox) saves
        a task and a hop per event. `sink` must not block."""
        while self._dropped or self._queue:
            if self._dropped:
                first = self._queue[0].seq if self._queue else self._last_seq + 1
                dropped, self._dropped = self._dropped, 0
                resume = first - 1 - dropped
                sink(
                    Event(
                        self.channel,
                        first - 1,
                        LAGGED,
                        {"dropped": dropped, "resume_after_seq": resume},
                        now_iso(),
                    )
                )
            else:
                sink(self._queue.popleft())
        self._sink = sink

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while not self._closed:
            yield await self.get()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._close(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class EventBus(Protocol):
    """Publish and subscribe to JSON events on named channels (`run:{id}`, `job:{id}`, …)."""

    async def publish(self, channel: str, type: str, data: Mapping[str, Any]) -> Event:
        """Append an event to the channel (assigning its seq) and deliver it to subscribers."""
        ...

    async def publish_many(
        self, channels: Sequence[str], type: str, data: Mapping[str, Any]
    ) -> list[Event]:
        """Publish the same event on several channels (each with its own seq) in one go."""
        ...

    async def subscribe(
        self, channel: str, after_seq: int | None = None, max_queue: int = 1000
    ) -> Subscription:
        """Start receiving the channel's events; with `after_seq`, first replay the buffered
        events after it. Close the subscription (or use `async with`) when done."""
        ...

    async def history(self, channel: str, after_seq: int = 0) -> list[Event]:
        """The buffered events of a channel with seq > after_seq, oldest first."""
        ...

    async def close(self) -> None: ...
