"""Following one channel until its subject ends: what SSE endpoints (and later WebSocket
subscriptions) of runs and workflow runs stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection

from codexos_server.events.bus import Event, EventBus, Subscription


async def follow(
    events: EventBus, channel: str, after_seq: int, *, finished: bool, terminal: Collection[str]
) -> AsyncIterator[Event]:
    """The events after `after_seq`: replayed from history when the subject already
    finished, else relayed live until one of the `terminal` event types.

    Subscribe before the caller re-checks `finished`, so no event falls in between: callers
    read the status, then call this, which subscribes first."""
    subscription = await events.subscribe(channel, after_seq=after_seq)
    if finished:
        history = await events.history(channel, after_seq)
        await subscription.close()
        return _replay(history)
    return _relay(subscription, terminal)


async def _replay(history: list[Event]) -> AsyncIterator[Event]:
    for event in history:
        yield event


async def _relay(subscription: Subscription, terminal: Collection[str]) -> AsyncIterator[Event]:
    try:
        async for event in subscription:
            yield event
            if event.type in terminal:
                break
    finally:
        await subscription.close()
