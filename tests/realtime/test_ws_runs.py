"""Subscriptions to runs started by REST, replay with `after_seq`, refusals, chat, cancel."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.realtime.conftest import Live, napping_agent, recv, recv_until, send

EVENT_KEYS = {"channel", "seq", "type", "data", "ts"}


def is_final(frame: dict[str, Any]) -> bool:
    return frame.get("channel") is not None and frame["type"] in {
        "run.succeeded",
        "run.failed",
        "run.cancelled",
    }


async def test_subscribe_to_a_run_started_by_rest(live: Live, nap_tool: None) -> None:
    account = await live.account()
    agent = await live.agent(account, **napping_agent(3, 0.15))
    ws = await live.authed(account)
    run = await live.run_async(account, agent["id"], "go")
    channel = f"run:{run['id']}"
    await send(ws, {"type": "subscribe", "channel": channel, "after_seq": 0, "id": "s"})
    assert await recv(ws) == {"type": "subscribed", "id": "s", "channel": channel}
    events = await recv_until(ws, is_final)
    assert all(set(e) == EVENT_KEYS and e["channel"] == channel for e in events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.started" and events[-1]["type"] == "run.succeeded"
    assert events[-1]["data"]["output"] == "done"
    # Same events, same shape as the SSE endpoint serves.
    sse = (await live.http.get(f"/runs/{run['id']}/events", headers=account.headers())).text
    sse_types = [line[7:] for line in sse.splitlines() if line.startswith("event: ")]
    assert sse_types == [e["type"] for e in events]
    await ws.close()


async def test_live_subscription_without_replay(live: Live, nap_tool: None) -> None:
    account = await live.account()
    agent = await live.agent(account, **napping_agent(4, 0.2))
    run = await live.run_async(account, agent["id"], "go")
    ws = await live.authed(account)
    await send(ws, {"type": "subscribe", "channel": f"run:{run['id']}"})
    assert (await recv(ws))["type"] == "subscribed"
    events = await recv_until(ws, is_final)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert events[-1]["type"] == "run.succeeded"
    await ws.close()


async def test_reconnect_with_after_seq_gets_exactly_the_missed_events(
    live: Live, nap_tool: None
) -> None:
    account = await live.account()
    agent = await live.agent(account, **napping_agent(3, 0.1))
    run = await live.run_async(account, agent["id"], "go")
    channel = f"run:{run['id']}"
    first = await live.authed(account)
    await send(first, {"type": "subscribe", "channel": channel, "after_seq": 0})
    await recv(first)
    seen = [await recv(first) for _ in range(3)]
    await first.close()  # the client drops off after three events
    everything = await live.authed(account)
    await send(everything, {"type": "subscribe", "channel": channel, "after_seq": 0})
    await recv(everything)
    all_events = await recv_until(everything, is_final)
    again = await live.authed(account)
    await send(again, {"type": "subscribe", "channel": channel, "after_seq": seen[-1]["seq"]})
    await recv(again)
    missed = await recv_until(again, is_final)
    assert seen + missed == all_events
    await everything.close()
    await again.close()


async def test_another_workspaces_run_is_refused(live: Live) -> None:
    owner, stranger = await live.account(), await live.account()
    agent = await live.agent(owner)
    run = await live.run_async(owner, agent["id"], "secret")
    ws = await live.authed(stranger)
    for channel in (f"run:{run['id']}", f"workspace:{await owner.personal_workspace()}"):
        await send(ws, {"type": "subscribe", "channel": channel, "id": 7})
        error = await recv(ws)
        assert error["type"] == "error" and error["id"] == 7, error
        assert error["code"] == "RESOURCE_NOT_FOUND"
    await send(ws, {"type": "subscribe", "channel": "nonsense:1", "id": 8})
    assert (await recv(ws))["code"] == "VALIDATION_ERROR"
    # The connection still works.
    await send(ws, {"type": "ping", "id": 9})
    assert await recv(ws) == {"type": "pong", "id": 9}
    await ws.close()


async def test_missing_scope_is_refused(live: Live) -> None:
    account = await live.account()
    agent = await live.agent(account)
    run = await live.run_async(account, agent["id"], "x")
    key = await account.api_key(["workflows:read"])
    async with live.connect() as ws:
        await send(ws, {"type": "auth", "token": key})
        await recv(ws)
        await send(ws, {"type": "subscribe", "channel": f"run:{run['id']}"})
        assert (await recv(ws))["code"] == "AUTHORIZATION_FAILED"
        await send(ws, {"type": "chat", "agent_id": agent["id"], "message": "hi"})
        assert (await recv(ws))["code"] == "AUTHORIZATION_FAILED"


async def test_workspace_channel_and_unsubscribe(live: Live) -> None:
    account = await live.account()
    workspace = await account.personal_workspace()
    agent = await live.agent(account)
    ws = await live.authed(account)
    await send(ws, {"type": "subscribe", "channel": f"workspace:{workspace}"})
    assert (await recv(ws))["type"] == "subscribed"
    run = await live.run_async(account, agent["id"], "hello")
    frames = await recv_until(ws, lambda f: f["type"] == "run.succeeded")
    assert all(f["channel"] == f"workspace:{workspace}" for f in frames)
    assert frames[-1]["data"]["run_id"] == run["id"]
    await send(ws, {"type": "unsubscribe", "channel": f"workspace:{workspace}", "id": "u"})
    late = await recv_until(ws, lambda f: f["type"] == "unsubscribed")  # job events
    assert late[-1] == {"type": "unsubscribed", "id": "u", "channel": f"workspace:{workspace}"}
    await live.run_async(account, agent["id"], "again")
    await send(ws, {"type": "ping"})
    assert (await recv(ws))["type"] == "pong"  # nothing from the unsubscribed channel
    await ws.close()


async def test_chat_streams_tokens_then_completes(live: Live) -> None:
    account = await live.account()
    agent = await live.agent(
        account,
        model={"provider": "scripted", "options": {"script": [{"content": "one two three"}]}},
    )
    ws = await live.authed(account)
    await send(ws, {"type": "chat", "id": "c1", "agent_id": agent["id"], "message": "hello"})
    frames = await recv_until(ws, lambda f: f["type"] == "message.completed")
    started, *tokens, done = frames
    assert started["type"] == "chat.started" and started["id"] == "c1"
    assert [t["type"] for t in tokens] == ["token"] * 3
    assert "".join(t["delta"] for t in tokens) == "one two three"
    assert done["status"] == "succeeded" and done["output"] == "one two three"
    assert done["usage"]["completion_tokens"] == 3
    assert done["run_id"] == started["run_id"] and done["conversation_id"]
    conversation_id = done["conversation_id"]
    # The chat continues in the same conversation.
    await send(
        ws,
        {
            "type": "chat",
            "agent_id": agent["id"],
            "message": "again",
            "conversation_id": conversation_id,
        },
    )
    done2 = (await recv_until(ws, lambda f: f["type"] == "message.completed"))[-1]
    assert done2["conversation_id"] == conversation_id and done2["status"] == "succeeded"
    # An unknown agent is an error frame.
    await send(ws, {"type": "chat", "id": "c3", "agent_id": "nope", "message": "x"})
    error = await recv(ws)
    assert error["type"] == "error" and error["code"] == "RESOURCE_NOT_FOUND"
    await ws.close()


async def test_cancel_a_run(live: Live, nap_tool: None) -> None:
    account = await live.account()
    agent = await live.agent(account, **napping_agent(40, 0.1))
    run = await live.run_async(account, agent["id"], "long")
    ws = await live.authed(account)
    await send(ws, {"type": "subscribe", "channel": f"run:{run['id']}", "after_seq": 0})
    await recv(ws)
    await send(ws, {"type": "cancel", "run_id": run["id"], "id": "x"})
    frames = await recv_until(ws, is_final)
    # The acknowledgement and the run's final event race each other to the socket.
    if not any(f["type"] == "cancelled" for f in frames):
        frames += await recv_until(ws, lambda f: f["type"] == "cancelled")
    cancelled = next(f for f in frames if f["type"] == "cancelled")
    assert cancelled["id"] == "x" and cancelled["run_id"] == run["id"]
    assert [f["type"] for f in frames if is_final(f)] == ["run.cancelled"]
    await send(ws, {"type": "cancel", "run_id": "missing", "id": "y"})
    assert (await recv(ws))["code"] == "RESOURCE_NOT_FOUND"
    await send(ws, {"type": "cancel", "workflow_run_id": "missing", "id": "z"})
    assert (await recv(ws))["code"] == "RESOURCE_NOT_FOUND"
    await ws.close()


async def test_chat_turns_are_stored_in_the_conversation(live: Live) -> None:
    account = await live.account()
    agent = await live.agent(account)
    ws = await live.authed(account)
    await send(ws, {"type": "chat", "agent_id": agent["id"], "message": "hello"})
    done = (await recv_until(ws, lambda f: f["type"] == "message.completed"))[-1]
    await asyncio.sleep(0.3)
    r = await live.http.get(
        f"/conversations/{done['conversation_id']}/messages", headers=account.headers()
    )
    assert len(r.json()["items"]) == 2, json.dumps(r.json())
    await ws.close()
