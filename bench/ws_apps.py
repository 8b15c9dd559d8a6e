"""The two servers of bench_ws, each with the same benchmark-only publisher hook.

`codexos`: the real app (`create_app()` from the CODEXOS_* environment) plus
`POST /bench/publish?channel=&rate=&seconds=`, which publishes `bench.tick` events through
the app's own event bus; WebSocket clients get them through `/api/v1/ws`.

`bare`: the baseline, a bare Starlette app whose `/ws` accepts anyone, and the same hook
broadcasting the same event JSON to every socket (one queue and sender task per socket, the
idiomatic broadcast). Both publishers put the send time in `data.sent`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from codexos_server.app import create_app
from codexos_server.events.bus import now_iso

Publish = Callable[[str, int, dict[str, Any]], Awaitable[None]]


async def _ticks(publish: Publish, channel: str, rate: float, seconds: float) -> None:
    """`rate` events a second on a fixed schedule (no drift), for `seconds`."""
    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await publish(channel, i + 1, {"i": i, "sent": time.time()})


def _hook(publish: Publish) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def start(request: Request) -> JSONResponse:
        q = request.query_params
        task = asyncio.create_task(
            _ticks(publish, q["channel"], float(q["rate"]), float(q["seconds"]))
        )
        request.app.state.bench_tasks = [*getattr(request.app.state, "bench_tasks", []), task]
        return JSONResponse({"started": True})

    return start


def _codexos() -> Any:
    app = create_app()
    events = app.state.container.events

    async def publish(channel: str, seq: int, data: dict[str, Any]) -> None:
        await events.publish(channel, "bench.tick", data)

    app.add_route("/bench/publish", _hook(publish), methods=["POST"])
    return app


def _bare() -> Starlette:
    queues: set[asyncio.Queue[str]] = set()

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        queue: asyncio.Queue[str] = asyncio.Queue()
        queues.add(queue)

        async def sender() -> None:
            while True:
                await websocket.send_text(await queue.get())

        task = asyncio.create_task(sender())
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            queues.discard(queue)
            task.cancel()

    async def publish(channel: str, seq: int, data: dict[str, Any]) -> None:
        text = json.dumps(
            {"channel": channel, "seq": seq, "type": "bench.tick", "data": data, "ts": now_iso()},
            separators=(",", ":"),
        )
        for queue in queues:
            queue.put_nowait(text)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            WebSocketRoute("/api/v1/ws", ws),
            Route("/api/v1/health", health),
            Route("/bench/publish", _hook(publish), methods=["POST"]),
        ]
    )


def codexos_app() -> Any:
    return _codexos()


def bare_app() -> Starlette:
    return _bare()
