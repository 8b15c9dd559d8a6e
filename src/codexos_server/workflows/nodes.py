"""What each node type does. Executors get the node's config and the expression scope and
return the node's output (and, for branching nodes, the branch taken). `wait`,
`human_approval` and `map` need the engine (they pause the node) and live there."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from codexos_server.agents.tools.base import ToolContext, ToolError, validate_arguments
from codexos_server.errors import NotFound
from codexos_server.llm.port import ModelError
from codexos_server.llm.types import ChatMessage, ChatRequest
from codexos_server.workflows.expressions import ExpressionError, evaluate, render
from codexos_server.workflows.spec import Node


class NodeError(Exception):
    """A node failed; the engine applies its retry policy and `on_error`."""


@dataclass(frozen=True, slots=True)
class NodeResult:
    output: Any
    branch: str | None = None
    input: Any = None  # what the node consumed (rendered prompt, request, ...), for the record


@dataclass(frozen=True)
class NodeEnv:
    """What an executor may use: the run's identity and the app's services."""

    run_id: str
    node_id: str
    workspace_id: str
    user_id: str | None
    inputs: Any
    services: Any  # the Container
    incoming_outputs: Mapping[str, Any]  # outputs of the nodes on this node's active edges


Executor = Callable[[Node, dict[str, Any], NodeEnv], Awaitable[NodeResult]]


def _render(value: Any, scope: dict[str, Any]) -> Any:
    try:
        return render(value, scope)
    except ExpressionError as exc:
        raise NodeError(f"template: {exc}") from exc


def _evaluate(expression: str, scope: dict[str, Any]) -> Any:
    try:
        return evaluate(expression, scope)
    except ExpressionError as exc:
        raise NodeError(f"expression: {exc}") from exc


async def run_input(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    schema = node.config.get("schema")
    if schema:
        problems = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(env.inputs),
            key=lambda e: list(e.path),
        )
        if problems:
            raise NodeError("inputs: " + "; ".join(p.message for p in problems[:5]))
    return NodeResult(env.inputs)


async def run_output(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    return NodeResult(_render(node.config.get("value"), scope))


async def run_template(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    return NodeResult(_render(node.config.get("template"), scope))


async def run_condition(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    value = bool(_evaluate(str(node.config["expression"]), scope))
    return NodeResult(value, "true" if value else "false")


async def run_switch(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    value = _evaluate(str(node.config["expression"]), scope)
    cases = {str(case) for case in node.config.get("cases", [])}
    return NodeResult(value, str(value) if str(value) in cases else "default")


async def run_parallel(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    return NodeResult(None)


async def run_join(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    return NodeResult(dict(env.incoming_outputs))


async def run_agent(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    agent_id = str(node.config["agent_id"])
    text = str(_render(node.config.get("input", ""), scope))
    try:
        run = await env.services.runs.run_child(
            workspace_id=env.workspace_id,
            user_id=env.user_id,
            agent_id=agent_id,
            input_data=text,
            parent_run_id=None,
            depth=0,
        )
    except NotFound as exc:
        raise NodeError(f"the agent {agent_id} was not found") from exc
    if run.status != "succeeded":
        raise NodeError(
            f"the agent's run ended {run.status}: {(run.error or {}).get('message', '')}"
        )
    output = run.output if not run.citations else {"text": run.output, "citations": run.citations}
    return NodeResult(output, input={"agent_id": agent_id, "input": text, "agent_run_id": run.id})


async def run_llm(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    model_settings = dict(node.config.get("model") or {})
    resolved = await env.services.providers.resolve(env.workspace_id, model_settings)
    messages = []
    if node.config.get("system"):
        messages.append(ChatMessage("system", str(_render(node.config["system"], scope))))
    prompt = str(_render(node.config["prompt"], scope))
    messages.append(ChatMessage("user", prompt))
    try:
        result = await resolved.chat.complete(
            ChatRequest(
                messages=tuple(messages),
                model=resolved.model,
                temperature=float(model_settings.get("temperature", 0.7)),
                max_tokens=int(model_settings.get("max_tokens", 512)),
                options=dict(model_settings.get("options") or {}),
            )
        )
    except ModelError as exc:
        raise NodeError(f"model: {exc}") from exc
    return NodeResult(result.content, input={"prompt": prompt})


async def _call_tool(
    name: str, arguments: Any, env: NodeEnv, config: dict[str, Any] | None = None
) -> Any:
    tools = await env.services.runtime.tools.for_agent(env.workspace_id, [{"name": name}])
    tool = tools.get(name)
    if tool is None:
        raise NodeError(f"no tool named {name!r}")
    ctx = ToolContext(
        workspace_id=env.workspace_id,
        user_id=env.user_id,
        run_id=env.run_id,
        config=config or {},
        services=env.services,
    )
    try:
        return await tool(ctx, validate_arguments(tool.parameters, arguments))
    except ToolError as exc:
        raise NodeError(f"tool {name}: {exc}") from exc


async def run_tool(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    arguments = _render(node.config.get("arguments") or {}, scope)
    return NodeResult(await _call_tool(str(node.config["tool"]), arguments, env), input=arguments)


async def run_http_request(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    arguments: dict[str, Any] = {
        "url": _render(node.config["url"], scope),
        "method": node.config.get("method", "GET"),
    }
    for key in ("headers", "json", "body"):
        if node.config.get(key) is not None:
            arguments[key] = _render(node.config[key], scope)
    # The same key on every attempt of this node, so a receiver can drop a repeated request
    # (a node whose worker died mid-request runs again).
    headers = dict(arguments.get("headers") or {})
    headers.setdefault("Idempotency-Key", f"{env.run_id}:{env.node_id}")
    arguments["headers"] = headers
    return NodeResult(await _call_tool("http_request", arguments, env), input=arguments)


async def run_knowledge_retrieval(node: Node, scope: dict[str, Any], env: NodeEnv) -> NodeResult:
    try:
        async with env.services.db.read() as session:
            await env.services.knowledge_bases.load(
                session, env.workspace_id, str(node.config["knowledge_base_id"])
            )
    except NotFound as exc:
        raise NodeError(
            f"the knowledge base {node.config['knowledge_base_id']} was not found"
        ) from exc
    hits = await env.services.knowledge_bases.search_many(
        env.workspace_id,
        [str(node.config["knowledge_base_id"])],
        str(_render(node.config["query"], scope)),
        int(node.config.get("top_k", 5)),
    )
    return NodeResult(
        [
            {
                "text": h.text,
                "source": citation,
                "document_id": h.document_id,
                "score": round(h.score, 4),
            }
            for h, citation in hits
        ]
    )


EXECUTORS: dict[str, Executor] = {
    "input": run_input,
    "output": run_output,
    "template": run_template,
    "condition": run_condition,
    "switch": run_switch,
    "parallel": run_parallel,
    "join": run_join,
    "agent": run_agent,
    "llm": run_llm,
    "tool": run_tool,
    "http_request": run_http_request,
    "knowledge_retrieval": run_knowledge_retrieval,
}


def check_json(value: Any) -> None:
    """Raises: NodeError for outputs that cannot be stored as JSON."""
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise NodeError("the node's output is not JSON") from exc
