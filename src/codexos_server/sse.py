"""Server-sent events: the event bus's events as `text/event-stream`, with `id:` set to the
channel sequence number so a client can resume with `Last-Event-ID`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from codexos_server.events.bus import Event


def sse_response(events: AsyncIterator[Event]) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        async for event in events:
            data = json.dumps(event.as_dict(), default=str)
            yield f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def wants_event_stream(accept: str | None) -> bool:
    return bool(accept) and "text/event-stream" in str(accept)
