"""The agent loop through the API with the scripted model: tool calls and observations, bad
arguments, unknown tools, failing tools, max steps, model errors, streaming, background runs,
cancellation, idempotency and the run/step records."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from codexos_server.agents.schemas import ExecuteRequest
from codexos_server.agents.tools.base import TOOLS, ToolContext, ToolError, register_tool
from tests.conftest import Account, assert_envelope


def tool_agent(script: list[dict[str, Any]], tools: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": "tooly",
        "type": "tool",
        "tools": [{"name": t} for t in tools],
        "model": {"provider": "scripted", "options": {"script": script}},
        **extra,
    }


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


async def _run(
    client: httpx.AsyncClient,
    account: Account,
    agent: dict[str, Any],
    text: str = "go",
    **body: Any,
) -> dict[str, Any]:
    created = (await client.post("/agents", json=agent, headers=account.headers())).json()
    r = await client.post(
        f"/agents/{created['id']}/execute",
        json={"input_data": text, **body},
        headers=account.headers(),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _steps(client: httpx.AsyncClient, account: Account, run_id: str) -> list[dict[str, Any]]:
    return list((await client.get(f"/runs/{run_id}", headers=account.headers())).json()["steps"])


class Boom:
    name = "boom"
    description = "always crashes"
    parameters: dict[str, Any] = {"type": "object", "properties": {}}

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        raise RuntimeError("kaboom")


class Nap:
    name = "nap"
    description = "sleeps a while"
    parameters: dict[str, Any] = {"type": "object", "properties": {"seconds": {"type": "number"}}}

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(float(arguments.get("seconds", 0.2)))
        if arguments.get("fail"):
            raise ToolError("never")
        return "rested"


@pytest.fixture
def test_tools() -> Iterator[None]:
    register_tool(Boom())
    register_tool(Nap())
    yield
    TOOLS.pop("boom", None)
    TOOLS.pop("nap", None)


async def test_tool_call_observation_answer(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    script = [
        call("calculator", expression="2*(3+4)"),
        {"content": "The answer is {{last_tool_result}}."},
    ]
    run = await _run(client, account, tool_agent(script, ["calculator"]), "What is 2*(3+4)?")
    assert run["status"] == "succeeded"
    assert run["output"].startswith("The answer is ") and "14" in run["output"]
    steps = await _steps(client, account, run["id"])
    assert [(s["kind"], s["name"]) for s in steps] == [
        ("model_call", "scripted"),
        ("tool_call", "calculator"),
        ("model_call", "scripted"),
    ]
    assert steps[1]["input"]["arguments"] == {"expression": "2*(3+4)"}
    assert steps[1]["error"] is None and "14" in json.dumps(steps[1]["output"])
    assert all(s["duration_ms"] >= 0 for s in steps)


async def test_bad_arguments_become_an_observation(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    script = [call("calculator", expr=5), {"content": "Saw: {{last_tool_result}}"}]
    run = await _run(client, account, tool_agent(script, ["calculator"]))
    assert run["status"] == "succeeded"
    assert run["output"].startswith("Saw: Error: invalid arguments")
    steps = await _steps(client, account, run["id"])
    assert steps[1]["error"]["type"] == "tool_error"


async def test_unknown_tool_becomes_an_observation(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    script = [call("teleport", where="mars"), {"content": "Saw: {{last_tool_result}}"}]
    run = await _run(client, account, tool_agent(script, ["calculator"]))
    assert run["status"] == "succeeded"
    assert "unknown tool 'teleport'" in run["output"] and "calculator" in run["output"]


async def test_a_tool_that_raises_does_not_end_the_run(
    make_account: Callable[..., Any], client: httpx.AsyncClient, test_tools: None
) -> None:
    account: Account = await make_account()
    script = [call("boom"), {"content": "Saw: {{last_tool_result}}"}]
    run = await _run(client, account, tool_agent(script, ["boom"]))
    assert run["status"] == "succeeded"
    assert run["output"] == "Saw: Error: RuntimeError: kaboom"
    steps = await _steps(client, account, run["id"])
    assert steps[1]["error"]["type"] == "tool_exception"


async def test_max_steps_ends_a_runaway_loop(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    script = [call("current_time")] * 10
    run = await _run(client, account, tool_agent(script, ["current_time"], max_steps=3))
    assert run["status"] == "incomplete"
    assert run["error"]["type"] == "max_steps" and "3 steps" in run["error"]["message"]
    steps = await _steps(client, account, run["id"])
    assert [s["kind"] for s in steps] == ["model_call", "tool_call"] * 3


async def test_http_request_to_private_addresses_is_refused(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    urls = [
        "http://127.0.0.1:8001/api/v1/health",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8001/",
    ]
    script = [call("http_request", url=url) for url in urls] + [{"content": "done"}]
    run = await _run(client, account, tool_agent(script, ["http_request"]))
    assert run["status"] == "succeeded"
    steps = [s for s in await _steps(client, account, run["id"]) if s["kind"] == "tool_call"]
    assert len(steps) == 4
    for step in steps:
        assert step["error"] is not None and step["error"]["type"] == "tool_error", step


async def test_model_error_fails_the_run(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    run = await _run(
        client,
        account,
        {
            "name": "x",
            "model": {"provider": "scripted", "options": {"script": [{"error": "provider down"}]}},
        },
    )
    assert run["status"] == "failed"
    assert run["error"] == {"type": "model_error", "message": "provider down"}


async def test_unknown_provider_fails_the_run_clearly(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    run = await _run(client, account, {"name": "x", "model": {"provider": "nope"}})
    assert run["status"] == "failed" and "nope" in run["error"]["message"]
    run = await _run(client, account, {"name": "y", "model": {"provider": "openai"}})
    assert run["status"] == "failed" and "CODEXOS_OPENAI_BASE_URL" in run["error"]["message"]


async def test_instructions_variables(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    agent = {
        "name": "x",
        "instructions": "You help {{customer}} with {{topic}}.",
        "variables": {"customer": "Ada", "topic": "math"},
    }
    run = await _run(client, account, agent, variables={"topic": "poetry"})
    assert run["status"] == "succeeded"
    steps = await _steps(client, account, run["id"])
    assert steps[0]["input"]["messages"] == 2


def _sse(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append(
            {"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])}
        )
    return events


async def test_streaming_tokens_and_tool_events(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    agent = (
        await client.post(
            "/agents",
            json=tool_agent(
                [
                    call("calculator", expression="6*7"),
                    {"content": "It is {{last_tool_result}} indeed"},
                ],
                ["calculator"],
            ),
            headers=account.headers(),
        )
    ).json()
    r = await client.post(
        f"/agents/{agent['id']}/execute",
        json={"input_data": "6*7?", "stream": True},
        headers=account.headers(),
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _sse(r.text)
    types = [e["event"] for e in events]
    assert types[0] == "run.started" and types[-1] == "run.succeeded"
    assert "tool_call" in types and "tool_result" in types
    tokens = [e["data"]["data"]["delta"] for e in events if e["event"] == "token"]
    assert len(tokens) >= 3 and "".join(tokens).startswith("It is ")
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    # Accept: text/event-stream works too.
    r = await client.post(
        f"/agents/{agent['id']}/execute",
        json={"input_data": "again"},
        headers={**account.headers(), "Accept": "text/event-stream"},
    )
    assert _sse(r.text)[-1]["event"] == "run.succeeded"


async def test_async_run_is_a_job(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    agent = (await client.post("/agents", json={"name": "bg"}, headers=account.headers())).json()
    r = await client.post(
        f"/agents/{agent['id']}/execute",
        json={"input_data": "later", "async": True},
        headers=account.headers(),
    )
    assert r.status_code == 202
    run = r.json()
    assert run["status"] in ("queued", "running") and run["job_id"]
    deadline = time.monotonic() + 10
    while run["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
        run = (await client.get(f"/runs/{run['id']}", headers=account.headers())).json()
    assert run["output"] == "echo: later" and run["mode"] == "async"
    job = (await client.get(f"/jobs/{run['job_id']}", headers=account.headers())).json()
    assert job["kind"] == "agent.run" and job["status"] == "succeeded"
    # Its events can be replayed after the fact, and resumed from Last-Event-ID.
    events = _sse((await client.get(f"/runs/{run['id']}/events", headers=account.headers())).text)
    assert events[0]["event"] == "run.started" and events[-1]["event"] == "run.succeeded"
    tail = _sse(
        (
            await client.get(
                f"/runs/{run['id']}/events",
                headers={**account.headers(), "Last-Event-ID": str(events[-2]["id"])},
            )
        ).text
    )
    assert [e["id"] for e in tail] == [events[-1]["id"]]


async def test_cancel_a_running_async_run(
    make_account: Callable[..., Any], client: httpx.AsyncClient, test_tools: None
) -> None:
    account: Account = await make_account()
    agent = (
        await client.post(
            "/agents",
            json=tool_agent([call("nap", seconds=0.2)] * 40, ["nap"], max_steps=50),
            headers=account.headers(),
        )
    ).json()
    run = (
        await client.post(
            f"/agents/{agent['id']}/execute",
            json={"input_data": "sleepy", "async": True},
            headers=account.headers(),
        )
    ).json()
    deadline = time.monotonic() + 10
    while True:
        steps = (await client.get(f"/runs/{run['id']}", headers=account.headers())).json()["steps"]
        if len(steps) >= 2:
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    r = await client.post(f"/runs/{run['id']}/cancel", headers=account.headers())
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    while (detail := (await client.get(f"/runs/{run['id']}", headers=account.headers())).json())[
        "status"
    ] != "cancelled":
        assert time.monotonic() < deadline, detail["status"]
        await asyncio.sleep(0.05)
    assert len(detail["steps"]) < 80


async def test_cancel_a_queued_run(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Any
) -> None:
    account: Account = await make_account()
    agent = (await client.post("/agents", json={"name": "q"}, headers=account.headers())).json()
    actor = await container.authenticator.authenticate(account.token, None)
    made = await container.runs.create(
        actor, agent["id"], ExecuteRequest(input_data="never"), mode="async"
    )
    r = await client.post(f"/runs/{made.out.id}/cancel", headers=account.headers())
    assert r.json()["status"] == "cancelled"


async def test_idempotency_key(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    agent = (await client.post("/agents", json={"name": "idem"}, headers=account.headers())).json()
    h = {**account.headers(), "Idempotency-Key": "abc-123"}
    first = (
        await client.post(f"/agents/{agent['id']}/execute", json={"input_data": "once"}, headers=h)
    ).json()
    again = (
        await client.post(f"/agents/{agent['id']}/execute", json={"input_data": "once"}, headers=h)
    ).json()
    assert first["id"] == again["id"] and again["output"] == "echo: once"
    r = await client.post(f"/agents/{agent['id']}/execute", json={"input_data": "twice"}, headers=h)
    assert_envelope(r, 409, "CONFLICT")
    racing = await asyncio.gather(
        *[
            client.post(
                f"/agents/{agent['id']}/execute",
                json={"input_data": "race"},
                headers={**account.headers(), "Idempotency-Key": "race"},
            )
            for _ in range(4)
        ]
    )
    assert len({r.json()["id"] for r in racing}) == 1
    runs = (
        await client.get("/runs", params={"agent_id": agent["id"]}, headers=account.headers())
    ).json()["items"]
    assert len(runs) == 2


async def test_runs_list_filters(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    ok = await _run(client, account, {"name": "ok"})
    bad = await _run(
        client,
        account,
        {"name": "bad", "model": {"provider": "scripted", "options": {"script": [{"error": "x"}]}}},
    )
    failed = (
        await client.get("/runs", params={"status": "failed"}, headers=account.headers())
    ).json()["items"]
    assert [r["id"] for r in failed] == [bad["id"]]
    by_agent = (
        await client.get("/runs", params={"agent_id": ok["agent_id"]}, headers=account.headers())
    ).json()["items"]
    assert [r["id"] for r in by_agent] == [ok["id"]]


async def test_agent_call(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    helper = (
        await client.post("/agents", json={"name": "helper"}, headers=account.headers())
    ).json()
    script = [
        call("agent_call", agent_id=helper["id"], input="summarize this"),
        {"content": "Helper said: {{last_tool_result}}"},
    ]
    run = await _run(client, account, tool_agent(script, ["agent_call"]))
    assert run["status"] == "succeeded" and "echo: summarize this" in run["output"]
    children = (
        await client.get("/runs", params={"agent_id": helper["id"]}, headers=account.headers())
    ).json()["items"]
    assert len(children) == 1 and children[0]["output"] == "echo: summarize this"


async def test_agent_call_depth_limit(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    agent = (await client.post("/agents", json=tool_agent([], ["agent_call"]), headers=h)).json()
    # The agent calls itself: each level calls again, until the depth limit answers with an error.
    script = [
        call("agent_call", agent_id=agent["id"], input="deeper"),
        {"content": "level done: {{last_tool_result}}"},
    ]
    await client.patch(
        f"/agents/{agent['id']}",
        json={"model": {"provider": "scripted", "options": {"script": script}}},
        headers=h,
    )
    run = (
        await client.post(f"/agents/{agent['id']}/execute", json={"input_data": "start"}, headers=h)
    ).json()
    assert run["status"] == "succeeded"
    assert "may nest at most 3 levels" in run["output"]
    total = len(
        (
            await client.get("/runs", params={"agent_id": agent["id"], "limit": 100}, headers=h)
        ).json()["items"]
    )
    assert total == 4  # the top run and three nested levels


async def test_agent_call_refuses_other_workspaces(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    owner: Account = await make_account()
    other: Account = await make_account()
    foreign = (
        await client.post("/agents", json={"name": "foreign"}, headers=other.headers())
    ).json()
    script = [
        call("agent_call", agent_id=foreign["id"], input="hi"),
        {"content": "{{last_tool_result}}"},
    ]
    run = await _run(client, owner, tool_agent(script, ["agent_call"]))
    assert run["output"].startswith("Error: no agent")
