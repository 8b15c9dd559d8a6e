"""Server-sent events as iterators of `Event`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator

from codexos.types import Event


class SSEDecoder:
    """Turns `text/event-stream` lines into events (id, event, data as JSON)."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self._id = value
        elif name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _flush(self) -> Event | None:
        if not self._data and self._event is None:
            return None
        raw = "\n".join(self._data)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"text": raw}
        if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
            data = {"data": data if isinstance(data, dict) else {"value": data}}
        seq = int(self._id) if self._id and self._id.isdigit() else None
        event = Event.model_validate(
            {"seq": seq, **data, "type": self._event or data.get("type") or "message"}
        )
        self._event, self._data = None, []
        return event


def iter_events(lines: Iterable[str]) -> Iterator[Event]:
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
    last = decoder.feed("")
    if last is not None:
        yield last


async def aiter_events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    decoder = SSEDecoder()
    async for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
    last = decoder.feed("")
    if last is not None:
        yield last
