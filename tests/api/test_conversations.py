"""Conversations: continuing one by execute or by sending a message, the stored messages,
and the rolling summary when the context window would overflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import Account, assert_envelope


async def _agent(client: httpx.AsyncClient, account: Account, **extra: Any) -> dict[str, Any]:
    return dict(
        (
            await client.post(
                "/agents", json={"name": "chatty", **extra}, headers=account.headers()
            )
        ).json()
    )


async def test_execute_continues_a_conversation(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    agent = await _agent(client, account)
    conversation = (
        await client.post(
            f"/agents/{agent['id']}/conversations", json={"title": "First chat"}, headers=h
        )
    ).json()
    assert conversation["title"] == "First chat" and conversation["message_count"] == 0
    first = (
        await client.post(
            f"/agents/{agent['id']}/execute",
            json={"input_data": "hello", "conversation_id": conversation["id"]},
            headers=h,
        )
    ).json()
    second = (
        await client.post(
            f"/agents/{agent['id']}/execute",
            json={"input_data": "again", "conversation_id": conversation["id"]},
            headers=h,
        )
    ).json()
    assert first["conversation_id"] == second["conversation_id"] == conversation["id"]
    # The second call saw the first exchange: system + 2 history messages + the new message.
    steps = (await client.get(f"/runs/{second['id']}", headers=h)).json()["steps"]
    assert steps[0]["input"]["messages"] == 4
    messages = (
        await client.get(f"/conversations/{conversation['id']}/messages", headers=h)
    ).json()["items"]
    assert [(m["role"], m["content"]) for m in reversed(messages)] == [
        ("user", "hello"),
        ("assistant", "echo: hello"),
        ("user", "again"),
        ("assistant", "echo: again"),
    ]
    assert (await client.get(f"/conversations/{conversation['id']}", headers=h)).json()[
        "message_count"
    ] == 4
    listed = (await client.get(f"/agents/{agent['id']}/conversations", headers=h)).json()["items"]
    assert [c["id"] for c in listed] == [conversation["id"]]
    runs = (
        await client.get("/runs", params={"conversation_id": conversation["id"]}, headers=h)
    ).json()["items"]
    assert {r["id"] for r in runs} == {first["id"], second["id"]}


async def test_send_message_endpoint(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    agent = await _agent(client, account)
    conversation = (
        await client.post(f"/agents/{agent['id']}/conversations", json={}, headers=h)
    ).json()
    run = (
        await client.post(
            f"/conversations/{conversation['id']}/messages", json={"content": "ping"}, headers=h
        )
    ).json()
    assert run["output"] == "echo: ping" and run["conversation_id"] == conversation["id"]
    r = await client.post(
        f"/conversations/{conversation['id']}/messages",
        json={"content": "stream me", "stream": True},
        headers=h,
    )
    assert r.headers["content-type"].startswith("text/event-stream") and "run.succeeded" in r.text
    assert_envelope(
        await client.post(
            f"/conversations/{conversation['id']}/messages", json={"content": ""}, headers=h
        ),
        422,
        "VALIDATION_ERROR",
    )
    assert (
        await client.delete(f"/conversations/{conversation['id']}", headers=h)
    ).status_code == 204
    assert_envelope(
        await client.get(f"/conversations/{conversation['id']}/messages", headers=h),
        404,
        "RESOURCE_NOT_FOUND",
    )
    # Runs survive their conversation.
    assert (await client.get(f"/runs/{run['id']}", headers=h)).json()["conversation_id"] is None


async def test_only_the_last_messages_are_kept(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    agent = await _agent(client, account, memory={"max_messages": 2, "summarize": False})
    conversation = (
        await client.post(f"/agents/{agent['id']}/conversations", json={}, headers=h)
    ).json()
    for i in range(4):
        run = (
            await client.post(
                f"/conversations/{conversation['id']}/messages",
                json={"content": f"m{i}"},
                headers=h,
            )
        ).json()
    steps = (await client.get(f"/runs/{run['id']}", headers=h)).json()["steps"]
    assert steps[0]["input"]["messages"] == 4  # system + 2 remembered + new


async def test_rolling_summary_when_the_window_would_overflow(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    agent = await _agent(client, account, model={"provider": "scripted", "max_tokens": 64})
    conversation = (
        await client.post(f"/agents/{agent['id']}/conversations", json={}, headers=h)
    ).json()
    long_text = " ".join(["word"] * 1500)  # the scripted model counts words; its window is 4096
    for _ in range(2):
        await client.post(
            f"/conversations/{conversation['id']}/messages", json={"content": long_text}, headers=h
        )
    run = (
        await client.post(
            f"/conversations/{conversation['id']}/messages",
            json={"content": "short question"},
            headers=h,
        )
    ).json()
    assert run["status"] == "succeeded"
    state = (await client.get(f"/conversations/{conversation['id']}", headers=h)).json()
    assert state["summary"] and state["summary"].startswith("echo: Summarize the conversation")
    steps = (await client.get(f"/runs/{run['id']}", headers=h)).json()["steps"]
    # Older messages were folded: fewer than system + 4 history + new, and a summary message.
    assert steps[0]["input"]["messages"] < 6


async def test_blank_message_is_refused(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    agent = await _agent(client, account)
    conversation = (
        await client.post(
            f"/agents/{agent['id']}/conversations", json={}, headers=account.headers()
        )
    ).json()
    for content in ("\u001c", "   ", "\n\t"):
        r = await client.post(
            f"/conversations/{conversation['id']}/messages",
            json={"content": content},
            headers=account.headers(),
        )
        assert_envelope(r, 422, "VALIDATION_ERROR")
