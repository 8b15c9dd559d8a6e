"""Event bus adapters, registered by name; settings choose one."""

from __future__ import annotations

from collections.abc import Callable

from codexos_server.config import Settings
from codexos_server.events.bus import EventBus
from codexos_server.events.memory_bus import MemoryEventBus
from codexos_server.events.redis_bus import RedisEventBus

EVENT_BUSES: dict[str, Callable[[Settings], EventBus]] = {
    "memory": lambda s: MemoryEventBus(s.event_replay_size),
    "redis": lambda s: RedisEventBus(str(s.redis_url), s.event_replay_size),
}


def build_event_bus(settings: Settings) -> EventBus:
    """Redis when `CODEXOS_REDIS_URL` is set (so every node sees every event), else memory."""
    return EVENT_BUSES["redis" if settings.redis_url else "memory"](settings)
