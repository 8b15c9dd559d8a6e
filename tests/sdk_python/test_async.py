"""The async client: the same resources awaited, `async for` pages and streams, and the
realtime WebSocket helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from codexos import AsyncCodexOS, NotFoundError
from codexos.realtime import RealtimeError

from tests.e2e.conftest import LiveServer
from tests.sdk_python.conftest import PASSWORD, SdkAccount, scripted


@pytest.fixture
async def aclient(server: LiveServer, account: SdkAccount) -> AsyncIterator[AsyncCodexOS]:
    async with AsyncCodexOS(api_key=account.api_key, base_url=server.api) as sdk:
        yield sdk


async def test_agents_async(aclient: AsyncCodexOS) -> None:
    agents = [await aclient.agents.create(name=f"A{i}", model=scripted("hey")) for i in range(3)]
    listed = [a.id async for a in aclient.agents.list(limit=2)]  # two pages
    assert sorted(listed) == sorted(a.id for a in agents)
    page, cursor = await aclient.agents.list(limit=2).first_page()
    assert len(page) == 2 and cursor
    assert len(await aclient.agents.list().to_list()) == 3

    run = await aclient.agents.execute(agents[0].id, input_data="hi")
    assert run.output == "hey" and run.status == "succeeded"
    again = await aclient.agents.execute(agents[0].id, "hi", idempotency_key="fixed-key-1")
    same = await aclient.agents.execute(agents[0].id, "hi", idempotency_key="fixed-key-1")
    assert again.id == same.id != run.id  # same key and body: the first run, not a second
    events = [e async for e in aclient.agents.stream(agents[1].id, "hi")]
    assert events[-1].type == "run.succeeded" and events[-1].data["output"] == "hey"
    replay = [e.type async for e in aclient.runs.events(run.id)]
    assert replay == ["run.started", "run.succeeded"]
    assert (await aclient.runs.retrieve(run.id)).id == run.id
    updated = await aclient.agents.update(agents[2].id, name="renamed")
    assert updated.name == "renamed"
    await aclient.agents.delete(agents[2].id)
    with pytest.raises(NotFoundError) as caught:
        await aclient.agents.retrieve(agents[2].id)
    assert caught.value.request_id


async def test_async_login_and_knowledge_upload(server: LiveServer, account: SdkAccount) -> None:
    sdk = await AsyncCodexOS.login(account.email, PASSWORD, base_url=server.base_url)
    async with sdk:
        assert (await sdk.users.me()).id == account.user_id
        kb = await sdk.knowledge_bases.create("async kb")
        doc = await sdk.knowledge_bases.upload(
            kb.id, b"Penguins live in Antarctica.", filename="p.txt"
        )
        assert doc.name == "p.txt" and doc.size_bytes == len(b"Penguins live in Antarctica.")
        assert [d.id async for d in sdk.knowledge_bases.documents(kb.id)] == [doc.id]
        sdk.tokens.access_token = "not-a-token"
        assert (await sdk.users.me()).email == account.email  # refreshed on the 401


async def test_realtime_chat_and_subscribe(aclient: AsyncCodexOS) -> None:
    agent = await aclient.agents.create(name="WS", model=scripted("hello there", "later"))
    frames = [f async for f in aclient.realtime.chat(agent.id, "Hi")]
    assert frames[0].type == "chat.started" and frames[-1].type == "message.completed"
    assert frames[-1].output == "hello there"
    assert "".join(f.delta or "" for f in frames if f.type == "token") == "hello there"

    async with aclient.realtime.connect() as conn:
        queued = await aclient.agents.execute(agent.id, "in the background", background=True)
        seen: list[str] = []

        async def follow() -> None:
            async for event in conn.subscribe(f"run:{queued.id}", after_seq=0):
                seen.append(event.type)
                if event.type in {"run.succeeded", "run.failed"}:
                    return

        await asyncio.wait_for(follow(), 30)
        assert seen[0] == "run.started" and seen[-1] == "run.succeeded"
        async for event in aclient.realtime.subscribe(f"run:{queued.id}", after_seq=0):
            assert event.type == "run.started" and event.seq == 1  # replayed on its own socket
            break
        with pytest.raises(RealtimeError) as caught:
            async for _ in conn.chat("00000000-0000-0000-0000-000000000000", "x"):
                pass
        assert caught.value.code == "RESOURCE_NOT_FOUND"


async def test_realtime_rejects_a_bad_token(server: LiveServer) -> None:
    async with AsyncCodexOS(api_key="cxo_wrong", base_url=server.base_url) as sdk:
        with pytest.raises(RealtimeError) as caught:
            async with sdk.realtime.connect():
                pass
    assert caught.value.code == "AUTHENTICATION_FAILED"
