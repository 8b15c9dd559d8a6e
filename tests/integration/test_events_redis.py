"""The Redis event bus across processes: an event published by another process reaches a
subscriber here, in order, and a reconnecting subscriber gets what it missed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest

from codexos_server.events.redis_bus import RedisEventBus
from tests.integration.conftest import ROOT

PUBLISHER = """
import asyncio, sys
from codexos_server.events.redis_bus import RedisEventBus

async def main(url, channel, start, count):
    bus = RedisEventBus(url)
    for i in range(start, start + count):
        await bus.publish(channel, "tick", {"i": i})
    await bus.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


def publish_from_another_process(url: str, channel: str, start: int, count: int) -> None:
    subprocess.run(
        [sys.executable, "-c", PUBLISHER, url, channel, str(start), str(count)],
        check=True,
        cwd=ROOT,
        timeout=60,
    )


pytestmark = pytest.mark.redis


async def test_events_cross_processes_in_order(redis_url: str) -> None:
    channel = f"run:{uuid.uuid4()}"
    bus = RedisEventBus(redis_url)
    async with await bus.subscribe(channel) as sub:
        await asyncio.to_thread(publish_from_another_process, redis_url, channel, 0, 50)
        got = [await asyncio.wait_for(sub.get(), 5) for _ in range(50)]
    assert [e.seq for e in got] == list(range(1, 51))
    assert [e.data["i"] for e in got] == list(range(50))
    await bus.close()


async def test_reconnecting_subscriber_gets_missed_events(redis_url: str) -> None:
    channel = f"run:{uuid.uuid4()}"
    bus = RedisEventBus(redis_url)
    sub = await bus.subscribe(channel)
    await asyncio.to_thread(publish_from_another_process, redis_url, channel, 0, 10)
    seen = [await asyncio.wait_for(sub.get(), 5) for _ in range(4)]
    last = seen[-1].seq
    await sub.close()  # the client disconnects ...
    await asyncio.to_thread(
        publish_from_another_process, redis_url, channel, 10, 5
    )  # ... and misses these

    other = RedisEventBus(redis_url)  # it reconnects, perhaps to another node
    async with await other.subscribe(channel, after_seq=last) as again:
        await asyncio.to_thread(publish_from_another_process, redis_url, channel, 15, 3)
        rest = [await asyncio.wait_for(again.get(), 5) for _ in range(18 - last)]
    assert [e.seq for e in rest] == list(range(last + 1, 19))
    assert [e.data["i"] for e in rest] == list(range(last, 18))
    await bus.close()
    await other.close()


async def test_replay_buffer_is_bounded_in_redis(redis_url: str) -> None:
    channel = f"run:{uuid.uuid4()}"
    bus = RedisEventBus(redis_url, replay_size=5)
    for i in range(12):
        await bus.publish(channel, "tick", {"i": i})
    assert [e.seq for e in await bus.history(channel)] == [8, 9, 10, 11, 12]
    assert [e.seq for e in await bus.history(channel, after_seq=10)] == [11, 12]
    await bus.close()
