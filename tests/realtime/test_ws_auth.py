"""The handshake: first-message auth, the bearer subprotocol, failures (4401), the auth
timeout, the per-user connection limit (4429), ping/pong and the idle timeout (4408)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from websockets.exceptions import ConnectionClosed

from tests.realtime.conftest import Live, close_code, recv, send


async def test_first_message_auth(live: Live) -> None:
    account = await live.account()
    workspace_id = await account.personal_workspace()
    async with live.connect() as ws:
        await send(ws, {"type": "auth", "token": account.token, "id": 1})
        assert await recv(ws) == {
            "type": "auth.ok",
            "user_id": account.id,
            "workspace_id": workspace_id,
        }
        await send(ws, {"type": "ping", "id": "p1"})
        assert await recv(ws) == {"type": "pong", "id": "p1"}


async def test_api_key_auth(live: Live) -> None:
    account = await live.account()
    key = await account.api_key(["agents:read"])
    async with live.connect() as ws:
        await send(ws, {"type": "auth", "token": key})
        assert (await recv(ws))["type"] == "auth.ok"


async def test_bad_token_closes_4401(live: Live) -> None:
    async with live.connect() as ws:
        await send(ws, {"type": "auth", "token": "not-a-token"})
        code, reason = await close_code(ws)
        assert code == 4401 and "AUTHENTICATION_FAILED" in reason


async def test_first_frame_must_be_auth(live: Live) -> None:
    async with live.connect() as ws:
        await send(ws, {"type": "ping"})
        assert (await close_code(ws))[0] == 4401


async def test_a_workspace_not_a_member_of_closes_4401(live: Live) -> None:
    account = await live.account()
    async with live.connect() as ws:
        await send(ws, {"type": "auth", "token": account.token, "workspace_id": "nope"})
        assert (await close_code(ws))[0] == 4401


async def test_no_auth_message_times_out(live_factory: Callable[..., Awaitable[Live]]) -> None:
    live = await live_factory(ws_auth_timeout_seconds=0.3)
    async with live.connect() as ws:
        code, reason = await close_code(ws)
    assert code == 4401 and "timed out" in reason


async def test_bearer_subprotocol(live: Live) -> None:
    account = await live.account()
    async with live.connect(subprotocols=["bearer", account.token]) as ws:
        assert ws.subprotocol == "bearer"
        assert (await recv(ws))["type"] == "auth.ok"
    async with live.connect(subprotocols=["bearer", "bad-token"]) as ws:
        assert ws.subprotocol == "bearer"
        assert (await close_code(ws))[0] == 4401


async def test_connections_per_user_limit(live_factory: Callable[..., Awaitable[Live]]) -> None:
    live = await live_factory(ws_max_connections_per_user=2)
    account, other = await live.account(), await live.account()
    first, second = await live.authed(account), await live.authed(account)
    async with live.connect() as third:
        await send(third, {"type": "auth", "token": account.token})
        assert (await close_code(third))[0] == 4429
    # Another user is not affected; a closed connection frees its slot.
    await (await live.authed(other)).close()
    await first.close()
    async with asyncio.timeout(5):
        while True:
            try:
                ws = await live.authed(account)
                break
            except ConnectionClosed:
                await asyncio.sleep(0.05)
    await ws.close()
    await second.close()


async def test_idle_connection_is_closed(live_factory: Callable[..., Awaitable[Live]]) -> None:
    live = await live_factory(ws_idle_timeout_seconds=0.4)
    account = await live.account()
    ws = await live.authed(account)
    for _ in range(3):  # pings keep it open past the timeout
        await asyncio.sleep(0.2)
        await send(ws, {"type": "ping"})
        assert (await recv(ws))["type"] == "pong"
    code, reason = await close_code(ws)
    assert code == 4408 and reason == "idle timeout"
