"""In-process event bus: the embedded default (one API process, inline jobs)."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from typing import Any

from codexos_server.events.bus import Event, Subscription, now_iso


class MemoryEventBus:
    """Channels live in memory; the least recently used ones are forgotten past a bound."""

    def __init__(self, replay_size: int = 1000, max_channels: int = 10_000) -> None:
        self.replay_size = replay_size
        self.max_channels = max_channels
        self._channels: OrderedDict[str, tuple[list[int], deque[Event]]] = OrderedDict()
        self._subscribers: dict[str, set[Subscription]] = {}

    def _channel(self, name: str) -> tuple[list[int], deque[Event]]:
        state = self._channels.get(name)
        if state is not None:
            self._channels.move_to_end(name)
            return state
        state = self._channels[name] = ([0], deque(maxlen=self.replay_size))
        if len(self._channels) > self.max_channels:
            for old in list(self._channels):  # oldest first; never one someone listens to
                if len(self._channels) <= self.max_channels:
                    break
                if old != name and old not in self._subscribers:
                    del self._channels[old]
        return state

    async def publish(self, channel: str, type: str, data: Mapping[str, Any]) -> Event:
        counter, buffer = self._channel(channel)
        counter[0] += 1
        event = Event(channel, counter[0], type, dict(data), now_iso())
        buffer.append(event)
        for sub in list(self._subscribers.get(channel, ())):
            sub.deliver(event)
        return event

    async def publish_many(
        self, channels: Sequence[str], type: str, data: Mapping[str, Any]
    ) -> list[Event]:
        return [await self.publish(channel, type, data) for channel in channels]

    async def subscribe(
        self, channel: str, after_seq: int | None = None, max_queue: int = 1000
    ) -> Subscription:
        sub = Subscription(channel, max_queue, self._unsubscribe)
        self._subscribers.setdefault(channel, set()).add(sub)
        if after_seq is not None:
            sub._prime(await self.history(channel, after_seq), after_seq)
        else:
            counter, _ = self._channel(channel)
            sub._prime([], counter[0])
        return sub

    async def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.channel]

    async def history(self, channel: str, after_seq: int = 0) -> list[Event]:
        state = self._channels.get(channel)
        if state is None:
            return []
        return [e for e in state[1] if e.seq > after_seq]

    async def close(self) -> None:
        self._subscribers.clear()
