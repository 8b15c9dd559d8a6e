"""Malformed, oversized and random frames: the connection closes cleanly with 4400 (or the
frame is answered), and the server stays healthy for new connections and REST."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.conftest import Account
from tests.realtime.conftest import Live, close_code, recv, send

BAD_FRAMES: list[tuple[str, str | bytes]] = [
    ("not json", "{nope"),
    ("empty", ""),
    ("array", "[1, 2]"),
    ("string", '"subscribe"'),
    ("number", "42"),
    ("null", "null"),
    ("no type", '{"channel": "run:1"}'),
    ("non-string type", '{"type": 3}'),
    ("unknown type", '{"type": "explode"}'),
    ("missing field", '{"type": "subscribe"}'),
    ("wrong field type", '{"type": "subscribe", "channel": 5}'),
    ("negative after_seq", '{"type": "subscribe", "channel": "run:1", "after_seq": -1}'),
    ("extra field", '{"type": "ping", "boom": true}'),
    ("huge channel", json.dumps({"type": "subscribe", "channel": "run:" + "x" * 5000})),
    ("huge id", json.dumps({"type": "ping", "id": "i" * 1000})),
    ("cancel with both ids", '{"type": "cancel", "run_id": "a", "workflow_run_id": "b"}'),
    ("cancel with none", '{"type": "cancel"}'),
    ("auth again", '{"type": "auth", "token": "x"}'),
    ("binary", b"\x00\x01binary"),
    ("oversized", json.dumps({"type": "ping", "id": "x", "pad": "y" * 100_000})),
    ("deep nesting", "[" * 10_000 + "]" * 10_000),
]


async def assert_healthy(live: Live, account: Account) -> None:
    assert (await live.http.get("/health")).status_code == 200
    ws = await live.authed(account)
    await send(ws, {"type": "ping", "id": "alive"})
    assert await recv(ws) == {"type": "pong", "id": "alive"}
    await ws.close()


@pytest.mark.parametrize(("name", "frame"), BAD_FRAMES, ids=[n for n, _ in BAD_FRAMES])
async def test_bad_frame_closes_4400(live: Live, name: str, frame: str | bytes) -> None:
    account = await live.account()
    ws = await live.authed(account)
    await ws.send(frame)
    code, reason = await close_code(ws)
    assert code == 4400, (code, reason)
    assert reason and len(reason.encode()) <= 123
    await assert_healthy(live, account)


async def test_bad_first_frame_closes_4400(live: Live) -> None:
    async with live.connect() as ws:
        await ws.send("{nope")
        assert (await close_code(ws))[0] == 4400


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["subscribe", "unsubscribe", "chat", "cancel", "ping", "auth", "other"]
            )
        },
        optional={
            "id": json_values,
            "channel": st.text(max_size=150) | json_values,
            "after_seq": st.integers() | json_values,
            "agent_id": st.text(max_size=70),
            "message": st.text(max_size=50),
            "run_id": st.text(max_size=70),
            "workflow_run_id": st.text(max_size=70),
        },
    ).map(json.dumps),
)


@pytest.fixture
async def fuzz_account(live: Live) -> Account:
    return await live.account()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(frames, min_size=1, max_size=5))
async def test_random_frames(live: Live, fuzz_account: Account, batch: list[str]) -> None:
    """Each frame is answered (a reply or an error frame) or closes the connection with 4400;
    a ping after the batch is answered unless the connection was closed."""
    ws = await live.authed(fuzz_account)
    try:
        for frame in batch:
            await ws.send(frame)
        await send(ws, {"type": "ping", "id": "end"})
        while True:
            reply: dict[str, Any] = await recv(ws)
            assert reply["type"] in {"pong", "error", "subscribed", "unsubscribed"}, reply
            if reply == {"type": "pong", "id": "end"}:
                break
    except ConnectionClosed as exc:
        closed = exc.rcvd.code if exc.rcvd is not None else None
    else:
        closed = 4400  # answered in full
    finally:
        await ws.close()
    assert closed == 4400
    assert (await live.http.get("/health")).status_code == 200
