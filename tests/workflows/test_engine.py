"""The workflow engine through the API, on SQLite and PostgreSQL with the inline runner: every
node type (the scripted model where a model is involved), branching, parallel fan-out and
join, map, retries, timeouts, `on_error`, cancel, resume, re-run and approvals. The
definitions and runs API is in test_runs_api.py."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from codexos_server.agents.tools.base import TOOLS, ToolContext, ToolError, register_tool
from tests.agents.local_http_server import LocalHTTPServer
from tests.conftest import Account, assert_envelope
from tests.workflows.helpers import (
    by_node,
    chain,
    create_workflow,
    edge,
    node,
    run_to_end,
    scripted,
    start,
    wait_run,
)

CALLS: Counter[str] = Counter()
FAIL_UNTIL: dict[str, int] = {}


class Flaky:
    """Fails until it was called `FAIL_UNTIL[key]` times; counts every call (side effects)."""

    name = "flaky"
    description = "fails a few times"
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {"key": {"type": "string"}, "sleep": {"type": "number"}},
        "required": ["key"],
    }

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        key = str(arguments["key"])
        CALLS[key] += 1
        await asyncio.sleep(float(arguments.get("sleep", 0)))
        if CALLS[key] <= FAIL_UNTIL.get(key, 0):
            raise ToolError(f"flaky failure {CALLS[key]}")
        return {"key": key, "call": CALLS[key]}


@pytest.fixture(autouse=True)
def test_tools() -> Iterator[None]:
    register_tool(Flaky())
    CALLS.clear()
    FAIL_UNTIL.clear()
    yield
    TOOLS.pop("flaky", None)


def flaky(node_id: str, key: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "tool",
        "config": {"tool": "flaky", "arguments": {"key": key or node_id}},
        **extra,
    }


async def agent(http: httpx.AsyncClient, account: Account, name: str, *replies: str) -> str:
    body = {"name": name, "type": "basic", "model": scripted(*replies)}
    r = await http.post("/agents", json=body, headers=account.headers())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# -- node types -----------------------------------------------------------------------------


async def test_input_template_output(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    spec = {
        "nodes": [
            node("in", "input", schema={"type": "object", "required": ["topic"]}),
            node("greet", "template", template="Topic: {{ inputs.topic | upper }}"),
            node(
                "data", "template", template={"topic": "{{ inputs.topic }}", "n": "{{ inputs.n }}"}
            ),
            node(
                "out",
                "output",
                value={"text": "{{ nodes.greet.output }}", "data": "{{ nodes.data.output }}"},
            ),
        ],
        "edges": [*chain("in", "greet", "out"), edge("in", "data"), edge("data", "out")],
    }
    run = await run_to_end(client, account, spec, {"topic": "tides", "n": 3})
    assert run["status"] == "succeeded", run
    assert run["output"] == {"text": "Topic: TIDES", "data": {"topic": "tides", "n": 3}}
    nodes = by_node(run)
    assert [n["node_id"] for n in run["nodes"]] == ["in", "greet", "data", "out"]
    for n in nodes.values():
        assert n["status"] == "succeeded" and n["attempt"] == 1
        assert n["started_at"] and n["finished_at"] and n["duration_ms"] is not None
    # The inputs are checked against the input node's schema before a run exists.
    wf = await create_workflow(client, account, spec)
    r = await client.post(
        f"/workflows/{wf['id']}/runs", json={"inputs": {"n": 1}}, headers=account.headers()
    )
    assert_envelope(r, 422, "VALIDATION_ERROR")


async def test_research_write_review_pipeline(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    """The seed's "build and orchestrate agent workflows": research → (write ∥ fact list) →
    join → review → condition → publish or revise."""
    account: Account = await make_account()
    research = await agent(client, account, "research", "Tidal power is predictable.")
    writer = await agent(client, account, "writer")  # echoes its prompt
    reviewer = await agent(client, account, "reviewer", "APPROVED: clear and accurate")
    spec = {
        "nodes": [
            node("in", "input"),
            node("research", "agent", agent_id=research, input="Research {{ inputs.topic }}"),
            node("fan", "parallel"),
            node(
                "write", "agent", agent_id=writer, input="Write about: {{ nodes.research.output }}"
            ),
            node(
                "facts",
                "llm",
                prompt="List facts: {{ nodes.research.output }}",
                model=scripted("1. predictable"),
            ),
            node("both", "join"),
            node("review", "agent", agent_id=reviewer, input="Review: {{ nodes.write.output }}"),
            node("ok", "condition", expression="'APPROVED' in nodes.review.output"),
            node(
                "publish",
                "output",
                value={"article": "{{ nodes.write.output }}", "facts": "{{ nodes.facts.output }}"},
            ),
            node("revise", "template", template="Needs work: {{ nodes.review.output }}"),
        ],
        "edges": [
            *chain("in", "research", "fan"),
            edge("fan", "write"),
            edge("fan", "facts"),
            edge("write", "both"),
            edge("facts", "both"),
            *chain("both", "review", "ok"),
            edge("ok", "publish", "true"),
            edge("ok", "revise", "false"),
        ],
    }
    run = await run_to_end(client, account, spec, {"topic": "tidal power"})
    assert run["status"] == "succeeded", run
    nodes = by_node(run)
    assert nodes["revise"]["status"] == "skipped"
    assert nodes["ok"]["branch"] == "true"
    assert nodes["both"]["output"] == {
        "write": "echo: Write about: Tidal power is predictable.",
        "facts": "1. predictable",
    }
    assert run["output"] == {
        "article": "echo: Write about: Tidal power is predictable.",
        "facts": "1. predictable",
    }
    # The agent node records what it sent and the agent run it made, which exists.
    recorded = nodes["research"]["input"]
    assert recorded["input"] == "Research tidal power"
    agent_run = (
        await client.get(f"/runs/{recorded['agent_run_id']}", headers=account.headers())
    ).json()
    assert agent_run["status"] == "succeeded" and agent_run["agent_id"] == research
    assert nodes["facts"]["input"] == {"prompt": "List facts: Tidal power is predictable."}


async def test_condition_false_and_switch(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    spec = {
        "nodes": [
            node("in", "input"),
            node("big", "condition", expression="inputs.n > 10"),
            node("kind", "switch", expression="inputs.kind", cases=["a", "b"]),
            node("ca", "template", template="A"),
            node("cb", "template", template="B"),
            node("other", "template", template="other {{ inputs.kind }}"),
            node("huge", "template", template="huge"),
            node("done", "join", mode="any"),
        ],
        "edges": [
            *chain("in", "big"),
            edge("big", "kind", "false"),
            edge("big", "huge", "true"),
            edge("kind", "ca", "a"),
            edge("kind", "cb", "b"),
            edge("kind", "other", "default"),
            edge("ca", "done"),
            edge("cb", "done"),
            edge("other", "done"),
        ],
    }
    run = await run_to_end(client, account, spec, {"n": 3, "kind": "b"})
    nodes = by_node(run)
    assert run["status"] == "succeeded", run
    assert nodes["big"]["output"] is False and nodes["huge"]["status"] == "skipped"
    assert nodes["kind"]["branch"] == "b"
    assert [nodes[k]["status"] for k in ("ca", "cb", "other")] == [
        "skipped",
        "succeeded",
        "skipped",
    ]
    assert nodes["done"]["output"] == {"cb": "B"}
    run = await run_to_end(client, account, spec, {"n": 3, "kind": "zzz"})
    assert by_node(run)["other"]["output"] == "other zzz"


async def test_tool_node_and_expression_error(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    spec = {
        "nodes": [
            node("in", "input"),
            node("calc", "tool", tool="calculator", arguments={"expression": "{{ inputs.a }} * 7"}),
            node("out", "output", value="{{ nodes.calc.output }}"),
        ],
        "edges": chain("in", "calc", "out"),
    }
    run = await run_to_end(client, account, spec, {"a": 6})
    assert run["status"] == "succeeded", run
    assert "42" in json.dumps(run["output"])
    assert by_node(run)["calc"]["input"] == {"expression": "6 * 7"}
    # A reference that does not resolve at run time fails the node with a clear message.
    run = await run_to_end(client, account, spec, {})
    assert run["status"] == "failed"
    assert run["error"]["node_id"] == "calc" and "'a'" in run["error"]["message"]


async def test_http_request_node(
    make_account: Callable[..., Any], client_factory: Callable[..., Any]
) -> None:
    async with LocalHTTPServer() as server:
        http = await client_factory(http_allowed_hosts=["127.0.0.1"])
        account = await _account(http)
        spec = {
            "nodes": [
                node("in", "input"),
                node(
                    "call",
                    "http_request",
                    url=f"{server.base}/echo",
                    method="POST",
                    json={"q": "{{ inputs.q }}"},
                ),
            ],
            "edges": chain("in", "call"),
        }
        run = await run_to_end(http, account, spec, {"q": "hi"})
        assert run["status"] == "succeeded", run
        assert run["output"]["call"]["status"] == 200
        seen = [r for r in server.requests if r.path == "/echo"]
        assert len(seen) == 1 and json.loads(seen[0].body) == {"q": "hi"}
        assert seen[0].headers["idempotency-key"] == f"{run['id']}:call"


async def test_http_request_node_blocks_private_addresses(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    async with LocalHTTPServer() as server:
        account: Account = await make_account()
        spec = {"nodes": [node("call", "http_request", url=f"{server.base}/json")], "edges": []}
        run = await run_to_end(client, account, spec)
        assert run["status"] == "failed" and run["error"]["node_id"] == "call"
        assert server.connections == 0


async def _account(http: httpx.AsyncClient) -> Account:
    from tests.conftest import register

    return await register(http)


# -- failures ---------------------------------------------------------------------------------


async def test_retry_policy(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    FAIL_UNTIL["t"] = 2
    spec = {"nodes": [flaky("t", retry={"max_attempts": 3, "backoff_seconds": 0.05})], "edges": []}
    run = await run_to_end(client, account, spec)
    assert run["status"] == "succeeded", run
    t = by_node(run)["t"]
    assert t["attempt"] == 3 and t["output"] == {"key": "t", "call": 3} and CALLS["t"] == 3
    # Out of attempts: the run fails, naming the node and the attempt.
    CALLS.clear()
    FAIL_UNTIL["t"] = 5
    run = await run_to_end(client, account, spec)
    assert run["status"] == "failed"
    assert run["error"]["node_id"] == "t" and run["error"]["attempt"] == 3 and CALLS["t"] == 3


async def test_on_error_continue_and_route(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    FAIL_UNTIL.update({"c": 99, "r": 99})
    spec = {
        "nodes": [
            flaky("c", on_error={"action": "continue", "fallback": {"default": True}}),
            node("after_c", "template", template="got {{ nodes.c.output.default }}"),
            flaky("r", on_error={"action": "route"}),
            node("ok_path", "template", template="fine"),
            node("err_path", "template", template="handled: {{ nodes.r.status }}"),
        ],
        "edges": [edge("c", "after_c"), edge("r", "ok_path"), edge("r", "err_path", "error")],
    }
    run = await run_to_end(client, account, spec)
    assert run["status"] == "succeeded", run
    nodes = by_node(run)
    assert nodes["c"]["status"] == "succeeded" and nodes["c"]["error"]["message"].startswith(
        "tool flaky"
    )
    assert nodes["after_c"]["output"] == "got True"
    assert nodes["r"]["status"] == "failed" and nodes["r"]["branch"] == "error"
    assert nodes["ok_path"]["status"] == "skipped"
    assert nodes["err_path"]["output"] == "handled: failed"


async def test_node_timeout(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    spec = {
        "nodes": [
            {
                "id": "slow",
                "type": "tool",
                "config": {"tool": "flaky", "arguments": {"key": "slow", "sleep": 5}},
                "timeout_seconds": 0.2,
            }
        ],
        "edges": [],
    }
    run = await run_to_end(client, account, spec)
    assert run["status"] == "failed"
    assert run["error"]["type"] == "timeout" and run["error"]["node_id"] == "slow"


async def test_resume_from_failed_node(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    FAIL_UNTIL["b"] = 1
    spec = {"nodes": [flaky("a"), flaky("b"), flaky("c")], "edges": chain("a", "b", "c")}
    wf = await create_workflow(client, account, spec)
    run = await start(client, account, wf["id"])
    failed = await wait_run(client, account, run["id"])
    assert failed["status"] == "failed"
    assert [n["status"] for n in failed["nodes"]] == ["succeeded", "failed", "cancelled"]
    r = await client.post(f"/workflow-runs/{run['id']}/resume", headers=account.headers())
    assert r.status_code == 200, r.text
    done = await wait_run(client, account, run["id"])
    assert done["status"] == "succeeded", done
    assert Counter({"a": 1, "b": 2, "c": 1}) == CALLS  # `a` finished before: not run again
    assert by_node(done)["a"]["output"] == {"key": "a", "call": 1}
    # Only a failed run can be resumed.
    r = await client.post(f"/workflow-runs/{run['id']}/resume", headers=account.headers())
    assert_envelope(r, 409, "CONFLICT")


async def test_cancel_and_rerun(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    spec = {
        "nodes": [node("in", "input"), node("nap", "wait", seconds=30)],
        "edges": chain("in", "nap"),
    }
    wf = await create_workflow(client, account, spec)
    run = await start(client, account, wf["id"], {"x": 1})
    await wait_run(client, account, run["id"], {"waiting"})
    r = await client.post(f"/workflow-runs/{run['id']}/cancel", headers=account.headers())
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    detail = (await client.get(f"/workflow-runs/{run['id']}", headers=account.headers())).json()
    assert by_node(detail)["nap"]["status"] == "cancelled"
    again = await client.post(f"/workflow-runs/{run['id']}/cancel", headers=account.headers())
    assert again.json()["status"] == "cancelled"
    r = await client.post(f"/workflow-runs/{run['id']}/rerun", headers=account.headers())
    assert r.status_code == 201, r.text
    rerun = r.json()
    assert (
        rerun["rerun_of"] == run["id"]
        and rerun["inputs"] == {"x": 1}
        and rerun["trigger"] == "rerun"
    )
    await client.post(f"/workflow-runs/{rerun['id']}/cancel", headers=account.headers())


# -- pausing nodes ------------------------------------------------------------------------------


async def test_wait_node(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    spec = {
        "nodes": [node("w", "wait", seconds=0.6), node("after", "template", template="late")],
        "edges": chain("w", "after"),
    }
    wf = await create_workflow(client, account, spec)
    run = await start(client, account, wf["id"])
    waiting = await wait_run(client, account, run["id"], {"waiting"})
    assert by_node(waiting)["w"]["status"] == "waiting"
    done = await wait_run(client, account, run["id"])
    assert done["status"] == "succeeded", done
    assert by_node(done)["w"]["duration_ms"] >= 550
    # `until` a time already past goes straight on; an unparsable time fails the node.
    spec = {"nodes": [node("w", "wait", until="{{ inputs.at }}")], "edges": []}
    run = await run_to_end(client, account, spec, {"at": "2020-01-01T00:00:00Z"})
    assert run["status"] == "succeeded", run
    run = await run_to_end(client, account, spec, {"at": "next tuesday"})
    assert run["status"] == "failed" and "until" in run["error"]["message"]


def approval_spec(**config: Any) -> dict[str, Any]:
    return {
        "nodes": [
            node("in", "input"),
            node("ask", "human_approval", prompt="Publish {{ inputs.title }}?", **config),
            node("yes", "template", template="published"),
            node("no", "template", template="dropped"),
        ],
        "edges": [
            *chain("in", "ask"),
            edge("ask", "yes", "approved"),
            edge("ask", "no", "rejected"),
        ],
    }


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_human_approval(
    decision: str, make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    stranger: Account = await make_account()
    wf = await create_workflow(client, account, approval_spec())
    run = await start(client, account, wf["id"], {"title": "Tides"})
    waiting = await wait_run(client, account, run["id"], {"waiting"})
    assert waiting["approvals"][0]["prompt"] == "Publish Tides?"
    assert waiting["approvals"][0]["status"] == "pending"
    pending = (await client.get("/workflow-approvals", headers=account.headers())).json()["items"]
    assert [a["run_id"] for a in pending] == [run["id"]]
    url = f"/workflow-runs/{run['id']}/approvals/ask/{decision}"
    assert_envelope(await client.post(url, headers=stranger.headers()), 404, "RESOURCE_NOT_FOUND")
    r = await client.post(url, json={"comment": "ok by me"}, headers=account.headers())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == ("approved" if decision == "approve" else "rejected")
    done = await wait_run(client, account, run["id"])
    nodes = by_node(done)
    taken, skipped = ("yes", "no") if decision == "approve" else ("no", "yes")
    assert nodes[taken]["status"] == "succeeded" and nodes[skipped]["status"] == "skipped"
    assert nodes["ask"]["output"]["comment"] == "ok by me"
    assert nodes["ask"]["output"]["decided_by"] == account.id
    assert_envelope(await client.post(url, headers=account.headers()), 409, "CONFLICT")
    assert_envelope(
        await client.post(
            f"/workflow-runs/{run['id']}/approvals/nope/approve", headers=account.headers()
        ),
        404,
        "RESOURCE_NOT_FOUND",
    )


@pytest.mark.parametrize("default", ["approve", "reject"])
async def test_human_approval_timeout_takes_default(
    default: str, make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    wf = await create_workflow(client, account, approval_spec(timeout_seconds=0.5, default=default))
    run = await start(client, account, wf["id"], {"title": "T"})
    done = await wait_run(client, account, run["id"])
    assert done["status"] == "succeeded", done
    nodes = by_node(done)
    assert nodes["ask"]["output"]["outcome"] == "timed_out"
    assert nodes["yes" if default == "approve" else "no"]["status"] == "succeeded"
    assert done["approvals"][0]["status"] == "timed_out"


async def test_map_with_concurrency(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    sub = {
        "nodes": [
            node("double", "template", template="{{ item * 2 }}"),
            node(
                "label",
                "template",
                template="#{{ index }}={{ nodes.double.output }} of {{ inputs.name }}",
            ),
        ],
        "edges": chain("double", "label"),
    }
    spec = {
        "nodes": [
            node("in", "input"),
            node("each", "map", items="inputs.numbers", concurrency=2, graph=sub),
        ],
        "edges": chain("in", "each"),
    }
    run = await run_to_end(client, account, spec, {"numbers": [1, 2, 3, 4, 5], "name": "n"})
    assert run["status"] == "succeeded", run
    assert by_node(run)["each"]["output"] == [
        {"label": f"#{i}={2 * (i + 1)} of n"} for i in range(5)
    ]
    items = (
        await client.get(
            f"/workflow-runs?parent_run_id={run['id']}&limit=50", headers=account.headers()
        )
    ).json()["items"]
    assert sorted(i["item_index"] for i in items) == [0, 1, 2, 3, 4]
    top = (await client.get("/workflow-runs", headers=account.headers())).json()["items"]
    assert [r["id"] for r in top] == [run["id"]]  # items are not listed as runs of their own
    # An item failing fails the map node (and the run), naming the item.
    run = await run_to_end(
        client, account, spec, {"numbers": [1, {"not": "a number"}], "name": "n"}
    )
    assert run["status"] == "failed" and run["error"]["node_id"] == "each"
    assert "item 1" in run["error"]["message"]
    # An empty list is an empty result.
    run = await run_to_end(client, account, spec, {"numbers": [], "name": "n"})
    assert by_node(run)["each"]["output"] == []


async def test_knowledge_retrieval_node(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    from tests.api.test_knowledge import add_text, make_kb

    account: Account = await make_account()
    kb = await make_kb(client, account)
    await add_text(
        client,
        account,
        kb["id"],
        "Tidal power turns the rise and fall of the sea into electricity.",
    )
    await add_text(
        client, account, kb["id"], "Sourdough bread needs a starter culture and patience."
    )
    spec = {
        "nodes": [
            node("in", "input"),
            node(
                "find",
                "knowledge_retrieval",
                knowledge_base_id=kb["id"],
                query="{{ inputs.q }}",
                top_k=1,
            ),
            node("answer", "template", template="Based on: {{ nodes.find.output[0].text }}"),
        ],
        "edges": chain("in", "find", "answer"),
    }
    run = await run_to_end(client, account, spec, {"q": "electricity from ocean tides"})
    assert run["status"] == "succeeded", run
    hits = by_node(run)["find"]["output"]
    assert len(hits) == 1 and "Tidal power" in hits[0]["text"] and hits[0]["source"]
    assert run["output"]["answer"].startswith("Based on: Tidal power")
    # Another workspace's knowledge base is not found.
    stranger: Account = await make_account()
    run = await run_to_end(client, stranger, spec, {"q": "tides"})
    assert run["status"] == "failed" and "was not found" in run["error"]["message"]
