"""The in-process event bus: sequence numbers, replay, bounded queues."""

from __future__ import annotations

import asyncio

from codexos_server.events.bus import LAGGED
from codexos_server.events.memory_bus import MemoryEventBus


async def test_sequence_per_channel_and_delivery_in_order() -> None:
    bus = MemoryEventBus()
    async with await bus.subscribe("run:1") as sub:
        for i in range(5):
            await bus.publish("run:1", "tick", {"i": i})
        await bus.publish("run:2", "other", {})
        got = [await sub.get() for _ in range(5)]
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert [e.data["i"] for e in got] == [0, 1, 2, 3, 4]
    assert (await bus.history("run:2"))[0].seq == 1


async def test_subscribe_after_seq_replays_then_continues_live() -> None:
    bus = MemoryEventBus()
    for i in range(6):
        await bus.publish("c", "e", {"i": i})
    async with await bus.subscribe("c", after_seq=3) as sub:
        await bus.publish("c", "e", {"i": 6})
        got = [await sub.get() for _ in range(4)]
    assert [e.seq for e in got] == [4, 5, 6, 7]


async def test_replay_buffer_is_bounded() -> None:
    bus = MemoryEventBus(replay_size=3)
    for i in range(10):
        await bus.publish("c", "e", {"i": i})
    assert [e.seq for e in await bus.history("c")] == [8, 9, 10]


async def test_slow_consumer_gets_lagged_and_never_blocks_the_publisher() -> None:
    bus = MemoryEventBus()
    fast = await bus.subscribe("c")
    slow = await bus.subscribe("c", max_queue=3)
    for i in range(10):
        await asyncio.wait_for(bus.publish("c", "e", {"i": i}), 1)
    lagged = await slow.get()
    assert lagged.type == LAGGED and lagged.data["dropped"] == 7
    assert [(await slow.get()).seq for _ in range(3)] == [8, 9, 10]
    assert [(await fast.get()).seq for _ in range(10)] == list(range(1, 11))
    await fast.close()
    await slow.close()


async def test_unsubscribed_channels_are_forgotten_past_the_bound() -> None:
    bus = MemoryEventBus(max_channels=2)
    keep = await bus.subscribe("kept")
    await bus.publish("kept", "e", {})
    for name in ("a", "b", "c"):
        await bus.publish(name, "e", {})
    assert await bus.history("kept")  # a subscribed channel is never evicted
    assert not await bus.history("a")
    await keep.close()
