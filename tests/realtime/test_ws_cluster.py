"""Two `codexos serve` processes sharing Redis (events) and one database: a run executed
through server A streams to a WebSocket connected to server B."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import register
from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.realtime.conftest import recv, recv_until, send


@pytest.fixture
def two_servers(tmp_path: Path, redis_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    shared = {
        "CODEXOS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        "CODEXOS_REDIS_URL": redis_url,
        "CODEXOS_SECRET_KEY": "test-secret-key-" + "x" * 48,
        "CODEXOS_LLM_PROVIDER": "scripted",
        "CODEXOS_RATE_LIMIT_FREE": "1000000",
        "CODEXOS_LOG_LEVEL": "WARNING",
    }
    servers: list[LiveServer] = []
    try:
        for name in ("a", "b"):
            data = tmp_path / name
            data.mkdir()
            servers.append(start_server(data, **shared))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            stop_server(server)


async def test_a_run_on_server_a_streams_to_a_websocket_on_server_b(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_servers
    async with httpx.AsyncClient(base_url=a.api, timeout=30) as http_a:
        account = await register(http_a, f"cluster-{uuid.uuid4().hex[:8]}@example.com")
        workspace = await account.personal_workspace()
        agent = (await http_a.post("/agents", json={"name": "x"}, headers=account.headers())).json()
        ws_url = b.base_url.replace("http://", "ws://") + "/api/v1/ws"
        async with connect(ws_url, subprotocols=["bearer", account.token]) as ws:  # type: ignore[list-item]
            assert (await recv(ws))["type"] == "auth.ok"
            # Live: subscribed on B before the run exists.
            await send(ws, {"type": "subscribe", "channel": f"workspace:{workspace}"})
            assert (await recv(ws))["type"] == "subscribed"
            r = await http_a.post(
                f"/agents/{agent['id']}/execute",
                json={"input_data": "across", "async": True},
                headers=account.headers(),
            )
            assert r.status_code == 202, r.text
            run_id = r.json()["id"]
            live = await recv_until(
                ws, lambda f: f["type"] == "run.succeeded" and f["data"]["run_id"] == run_id
            )
            assert live[-1]["data"]["output"] == "echo: across"
            # Replay: the run's whole channel from the shared (Redis) buffer.
            await send(ws, {"type": "subscribe", "channel": f"run:{run_id}", "after_seq": 0})
            await recv_until(ws, lambda f: f["type"] == "subscribed")
            events = await recv_until(
                ws, lambda f: f.get("channel") == f"run:{run_id}" and f["type"] == "run.succeeded"
            )
            run_events = [e for e in events if e.get("channel") == f"run:{run_id}"]
            assert [e["seq"] for e in run_events] == list(range(1, len(run_events) + 1))
            assert run_events[0]["type"] == "run.started", json.dumps(run_events)
