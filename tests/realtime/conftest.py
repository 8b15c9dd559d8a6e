"""A real uvicorn server on 127.0.0.1 (in this test's event loop) and WebSocket helpers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from codexos_server.agents.tools.base import TOOLS, ToolContext, register_tool
from codexos_server.app import create_app
from codexos_server.config import Settings
from codexos_server.container import Container, build_container
from tests.conftest import Account, register


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Live:
    """A running server: `http` talks REST to it, `ws_url` is its WebSocket endpoint."""

    http: httpx.AsyncClient
    ws_url: str
    container: Container

    async def account(self) -> Account:
        return await register(self.http)

    def connect(self, **kwargs: Any) -> Any:
        # Generous: on a loaded 2-CPU CI machine a handshake once took over 10 s.
        return connect(self.ws_url, open_timeout=30, **kwargs)

    async def authed(
        self, account: Account, workspace_id: str | None = None, **kwargs: Any
    ) -> ClientConnection:
        ws: ClientConnection = await self.connect(**kwargs)
        await send(ws, {"type": "auth", "token": account.token, "workspace_id": workspace_id})
        reply = await recv(ws)
        assert reply["type"] == "auth.ok", reply
        return ws

    async def agent(self, account: Account, **body: Any) -> dict[str, Any]:
        r = await self.http.post("/agents", json={"name": "a", **body}, headers=account.headers())
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def run_async(self, account: Account, agent_id: str, text: str) -> dict[str, Any]:
        r = await self.http.post(
            f"/agents/{agent_id}/execute",
            json={"input_data": text, "async": True},
            headers=account.headers(),
        )
        assert r.status_code == 202, r.text
        return dict(r.json())


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(json.dumps({k: v for k, v in frame.items() if v is not None}))


async def recv(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(frame, dict)
    return frame


async def recv_until(
    ws: ClientConnection, stop: Callable[[dict[str, Any]], bool], timeout: float = 15
) -> list[dict[str, Any]]:
    """Frames up to and including the first one `stop` accepts."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frames.append(await recv(ws, timeout))
            if stop(frames[-1]):
                return frames


async def close_code(ws: ClientConnection, timeout: float = 10) -> tuple[int, str]:
    """Read until the server closes; the close code and reason it sent."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        received = exc.rcvd
    assert received is not None, "closed without a close frame"
    return received.code, received.reason


async def serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    return server, task, port


@pytest.fixture
async def live_factory(
    settings_factory: Callable[..., Settings], container: Container
) -> AsyncIterator[Callable[..., Awaitable[Live]]]:
    """`await start(**settings overrides)`: a real server on the test database (the
    `container` fixture has already emptied a PostgreSQL database)."""
    started: list[tuple[uvicorn.Server, asyncio.Task[None], httpx.AsyncClient]] = []

    async def start(**overrides: Any) -> Live:
        settings = settings_factory(**overrides)
        own = build_container(settings)
        server, task, port = await serve(create_app(settings, own))
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30)
        started.append((server, task, http))
        return Live(http, f"ws://127.0.0.1:{port}/api/v1/ws", own)

    yield start
    for server, task, http in started:
        await http.aclose()
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def live(live_factory: Callable[..., Awaitable[Live]]) -> Live:
    return await live_factory()


class Nap:
    name = "nap"
    description = "sleeps a while"
    parameters: dict[str, Any] = {"type": "object", "properties": {"seconds": {"type": "number"}}}

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(float(arguments.get("seconds", 0.2)))
        return "rested"


@pytest.fixture
def nap_tool() -> Iterator[None]:
    register_tool(Nap())
    yield
    TOOLS.pop("nap", None)


def napping_agent(naps: int, seconds: float = 0.2) -> dict[str, Any]:
    """An agent (scripted model) that calls `nap` `naps` times, then answers "done"."""
    script: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "nap", "arguments": {"seconds": seconds}}]}
    ] * naps
    return {
        "type": "tool",
        "tools": [{"name": "nap"}],
        "max_steps": naps + 5,
        "model": {
            "provider": "scripted",
            "options": {"script": [*script, {"content": "done"}]},
        },
    }
