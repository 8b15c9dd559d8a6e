"""Open WebSocket connections per user, counted in this API process.

With N API nodes a user may hold up to N times the limit; the count is kept per process on
purpose (no shared state to leak when a node dies). docs/websocket.md says so.
"""

from __future__ import annotations

from collections import Counter

from starlette.websockets import WebSocket


class ConnectionCounter:
    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def acquire(self, user_id: str, limit: int) -> bool:
        if self._open[user_id] >= limit:
            return False
        self._open[user_id] += 1
        return True

    def release(self, user_id: str) -> None:
        self._open[user_id] -= 1
        if self._open[user_id] <= 0:
            del self._open[user_id]

    def count(self, user_id: str) -> int:
        return self._open[user_id]

    @property
    def total(self) -> int:
        return sum(self._open.values())


def counter_of(websocket: WebSocket) -> ConnectionCounter:
    """The app's counter, created on first use (one per app instance)."""
    state = websocket.app.state
    counter: ConnectionCounter | None = getattr(state, "ws_connections", None)
    if counter is None:
        counter = state.ws_connections = ConnectionCounter()
    return counter
