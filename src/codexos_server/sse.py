"""Server-sent events: the event bus's events as `text/event-stream`, with `id:` set to the
channel sequence number so a client can resume with `Last-Event-ID`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Query
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


async def _resume_after(
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0)] = None,
    after_seq: Annotated[
        int | None, Query(ge=0, description="Replay events after this seq")
    ] = None,
) -> int:
    """Where a client resumes a stream: `after_seq`, else `Last-Event-ID`, else the start."""
    return after_seq if after_seq is not None else (last_event_id or 0)


ResumeAfter = Annotated[int, Depends(_resume_after)]
