"""Subscriptions over graphql-transport-ws against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

from codexos_server.app import create_app
from codexos_server.config import Settings
from codexos_server.container import Container
from tests.conftest import register
from tests.graphql.helpers import AGENT

PROTOCOL = "graphql-transport-ws"
RUN_EVENTS = """subscription($id: ID!, $after: Int!) {
  runEvents(runId: $id, afterSeq: $after) { channel seq type data }
}"""
CHAT = """subscription($id: ID!) { chat(agentId: $id, message: "hi") { seq type data } }"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def live(settings: Settings, container: Container, backend: str) -> AsyncIterator[str]:
    """The app served by uvicorn in this event loop; yields the base URL."""
    if backend != "sqlite":
        pytest.skip("the WebSocket transport does not depend on the database")
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, container), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task


async def _connect(base: str, payload: dict[str, Any]) -> Any:
    ws = await websockets.connect(f"ws://{base}/api/v1/graphql", subprotocols=[PROTOCOL])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def _collect(ws: Any, op_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`next` payloads until the operation completes (or errors)."""
    received = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=20))
        if message.get("id") != op_id:
            continue
        if message["type"] == "next":
            received.append(message["payload"])
        else:
            return received, message


async def test_run_events_subscription(live: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live}/api/v1") as http:
        account = await register(http)
        agent = (await http.post("/agents", json=AGENT, headers=account.headers())).json()
        r = await http.post(
            f"/agents/{agent['id']}/execute", json={"input_data": "hi"}, headers=account.headers()
        )
        run = r.json()
        stranger = await register(http)
    ws = await _connect(live, {"Authorization": f"Bearer {account.token}"})
    try:
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": RUN_EVENTS, "variables": {"id": run["id"], "after": 0}},
                }
            )
        )
        received, end = await _collect(ws, "1")
        assert end["type"] == "complete"
        events = [p["data"]["runEvents"] for p in received]
        assert events, "the finished run's events are replayed"
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
        assert {e["channel"] for e in events} == {f"run:{run['id']}"}
        assert events[-1]["type"] == "run.succeeded"
        # Resuming after the last seen event replays only what came after it.
        await ws.send(
            json.dumps(
                {
                    "id": "2",
                    "type": "subscribe",
                    "payload": {
                        "query": RUN_EVENTS,
                        "variables": {"id": run["id"], "after": events[-2]["seq"]},
                    },
                }
            )
        )
        tail, _ = await _collect(ws, "2")
        assert [p["data"]["runEvents"]["seq"] for p in tail] == [events[-1]["seq"]]
    finally:
        await ws.close()

    # Another workspace's run: a GraphQL error with the REST code, no events.
    ws = await _connect(live, {"token": stranger.token})
    try:
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "3",
                    "type": "subscribe",
                    "payload": {"query": RUN_EVENTS, "variables": {"id": run["id"], "after": 0}},
                }
            )
        )
        received, end = await _collect(ws, "3")
        errors = end["payload"] if end["type"] == "error" else received[0]["errors"]
        assert errors[0]["extensions"]["code"] == "RESOURCE_NOT_FOUND"
    finally:
        await ws.close()


async def test_chat_streams_tokens(live: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live}/api/v1") as http:
        account = await register(http)
        agent = (await http.post("/agents", json=AGENT, headers=account.headers())).json()
    ws = await _connect(live, {"Authorization": f"Bearer {account.token}"})
    try:
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "c",
                    "type": "subscribe",
                    "payload": {"query": CHAT, "variables": {"id": agent["id"]}},
                }
            )
        )
        received, end = await _collect(ws, "c")
        assert end["type"] == "complete"
        events = [p["data"]["chat"] for p in received]
        tokens = "".join(e["data"]["delta"] for e in events if e["type"] == "token")
        assert tokens == "hello there"
        assert events[-1]["type"] == "run.succeeded"
    finally:
        await ws.close()


async def test_connection_without_credentials_is_refused(live: str) -> None:
    for payload in ({}, {"token": "nonsense"}):
        ws = await _connect(live, payload)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
