"""Redis event bus: an event published by any process reaches subscribers in every process.

Publishing is one Lua script, so the sequence number, the replay buffer (a capped list) and
the PUBLISH happen atomically: pub/sub delivery order is sequence order. Each process keeps
one pub/sub connection and fans messages out to its local subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from codexos_server.events.bus import Event, Subscription, now_iso
from codexos_server.log import get_logger

log = get_logger("codexos.events")

# KEYS: (seq, buffer, pubsub channel) per channel; ARGV: type, data, ts, replay size, ttl,
# then each channel's name as JSON. Returns the seq assigned on each channel.
_PUBLISH = """
local seqs = {}
for i = 0, #KEYS / 3 - 1 do
  local seq_key, buf_key, ch_key = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  local seq = redis.call('INCR', seq_key)
  local event = '{"channel":' .. ARGV[6 + i] .. ',"seq":' .. seq .. ',"type":' .. ARGV[1]
    .. ',"data":' .. ARGV[2] .. ',"ts":' .. ARGV[3] .. '}'
  redis.call('RPUSH', buf_key, event)
  redis.call('LTRIM', buf_key, -tonumber(ARGV[4]), -1)
  redis.call('EXPIRE', seq_key, ARGV[5])
  redis.call('EXPIRE', buf_key, ARGV[5])
  redis.call('PUBLISH', ch_key, event)
  seqs[i + 1] = seq
end
return seqs
"""


class RedisEventBus:
    def __init__(
        self,
        url: str,
        replay_size: int = 1000,
        ttl_seconds: int = 24 * 3600,
        prefix: str = "codexos:events",
    ) -> None:
        self.redis = Redis.from_url(url)
        self.replay_size = replay_size
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix
        self._script = self.redis.register_script(_PUBLISH)
        self._subscribers: dict[str, set[Subscription]] = {}
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def _keys(self, channel: str) -> tuple[str, str, str]:
        return (
            f"{self.prefix}:seq:{channel}",
            f"{self.prefix}:buf:{channel}",
            f"{self.prefix}:ch:{channel}",
        )

    async def publish(self, channel: str, type: str, data: Mapping[str, Any]) -> Event:
        return (await self.publish_many([channel], type, data))[0]

    async def publish_many(
        self, channels: Sequence[str], type: str, data: Mapping[str, Any]
    ) -> list[Event]:
        ts = now_iso()
        keys = [key for channel in channels for key in self._keys(channel)]
        args: list[str | int] = [
            json.dumps(type),
            json.dumps(dict(data), default=str),
            json.dumps(ts),
            self.replay_size,
            self.ttl_seconds,
        ]
        seqs = await self._script(keys=keys, args=[*args, *(json.dumps(c) for c in channels)])
        return [
            Event(channel, int(seq), type, dict(data), ts)
            for channel, seq in zip(channels, seqs, strict=True)
        ]

    async def subscribe(
        self, channel: str, after_seq: int | None = None, max_queue: int = 1000
    ) -> Subscription:
        sub = Subscription(channel, max_queue, self._unsubscribe)
        async with self._lock:
            await self._ensure_listener()
            assert self._pubsub is not None
            if channel not in self._subscribers:
                await self._pubsub.subscribe(self._keys(channel)[2])
            self._subscribers.setdefault(channel, set()).add(sub)
        # Subscribed before reading the buffer: nothing published in between is lost, and
        # Subscription skips the live duplicates of replayed events.
        if after_seq is not None:
            sub._prime(await self.history(channel, after_seq), after_seq)
        else:
            current = await self.redis.get(self._keys(channel)[0])
            sub._prime([], int(current or 0))
        return sub

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.done():
            return
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        for channel in self._subscribers:
            await self._pubsub.subscribe(self._keys(channel)[2])
        self._listener = asyncio.create_task(
            self._listen(self._pubsub), name="codexos-event-listener"
        )

    async def _listen(self, pubsub: PubSub) -> None:
        prefix = f"{self.prefix}:ch:"
        while True:
            try:
                if not pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as exc:
                log.warning("event listener lost Redis; retrying", error=str(exc))
                await asyncio.sleep(1)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()[len(prefix) :]
            try:
                event = Event.from_dict(json.loads(message["data"]))
            except (ValueError, KeyError, TypeError):
                log.warning("dropped a malformed event", channel=channel)
                continue
            for sub in list(self._subscribers.get(channel, ())):
                sub.deliver(event)

    async def _unsubscribe(self, sub: Subscription) -> None:
        async with self._lock:
            subs = self._subscribers.get(sub.channel)
            if subs is None:
                return
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.channel]
                if self._pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.unsubscribe(self._keys(sub.channel)[2])

    async def history(self, channel: str, after_seq: int = 0) -> list[Event]:
        raw = await self.redis.lrange(self._keys(channel)[1], 0, -1)
        events = [Event.from_dict(json.loads(item)) for item in raw]
        return [e for e in events if e.seq > after_seq]

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self.redis.aclose()
