"""Checking a workflow definition before it is saved or run: every problem at once, each
with the node it belongs to, so an editor can mark all of them in one pass.

A problem's `field` is a dotted path: relative to its node at the top level
(`config.prompt`), from the graph's root for edges (`edges[3].target`). Inside a `map`
node's sub-graph the node id is `<map id>/<inner id>` and the field is the path from the map
node (`config.graph.nodes[0].config.prompt`, `config.graph.edges[1].branch`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import jsonschema
from pydantic import ValidationError

from codexos_server.errors import ValidationFailed
from codexos_server.workflows.expressions import (
    MAP_SCOPE_NAMES,
    SCOPE_NAMES,
    check_expression,
    check_template,
    referenced_names,
    referenced_nodes,
)
from codexos_server.workflows.graph import ERROR_BRANCH
from codexos_server.workflows.spec import NODE_TYPES, Edge, Node, WorkflowSpec

MAX_MAP_DEPTH = 5
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
FIXED_BRANCHES: dict[str, tuple[str, ...]] = {
    "condition": ("true", "false"),
    "human_approval": ("approved", "rejected"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "agent": ("agent_id",),
    "llm": ("prompt",),
    "tool": ("tool",),
    "knowledge_retrieval": ("knowledge_base_id", "query"),
    "http_request": ("url",),
    "condition": ("expression",),
    "switch": ("expression", "cases"),
    "map": ("items", "graph"),
    "template": ("template",),
}
# Config keys holding bare expressions, and keys that are neither templates nor expressions.
EXPRESSION_KEYS: dict[str, tuple[str, ...]] = {
    "condition": ("expression",),
    "switch": ("expression",),
    "map": ("items",),
}
OPAQUE_KEYS: dict[str, tuple[str, ...]] = {"map": ("graph",), "input": ("schema",)}

Report = Callable[[str, str, str], None]  # (config key, code, message)


@dataclass(frozen=True)
class Problem:
    node_id: str | None
    field: str
    code: str
    message: str


def validate(spec: dict[str, Any]) -> tuple[WorkflowSpec | None, list[Problem]]:
    """The parsed spec (None if it does not parse) and every problem found; never raises."""
    return _check(spec, _Where())


def problems_error(problems: list[Problem]) -> ValidationFailed:
    """The 422 error listing every problem with its node, for the error envelope's details."""
    count = len(problems)
    return ValidationFailed(
        f"The workflow has {count} problem{'' if count == 1 else 's'}",
        [asdict(p) for p in problems],
    )


@dataclass(frozen=True)
class _Where:
    """Where a graph sits: the map node owning it (None at the top) and the field path to it."""

    owner: str | None = None
    path: str = ""
    outer_ids: frozenset[str] = frozenset()
    names: frozenset[str] = SCOPE_NAMES
    depth: int = 0

    def node_id(self, node_id: str | None) -> str | None:
        if node_id is None:
            return self.owner
        return f"{self.owner}/{node_id}" if self.owner else node_id

    def field(self, index: int | None, rel: str) -> str:
        """A node's field, relative to the node at the top level and from the graph inside a
        map; `index` None for a field of the graph itself."""
        parts = [self.path]
        if index is not None and self.owner is not None:
            parts.append(f"nodes[{index}]")
        parts.append(rel)
        return ".".join(p for p in parts if p)


def _check(raw: Any, where: _Where) -> tuple[WorkflowSpec | None, list[Problem]]:
    checker = _Checker(where)
    if not isinstance(raw, dict):
        checker.graph_problem(None, "", "invalid", "The workflow must be an object with `nodes`")
        return None, checker.problems
    parsed: WorkflowSpec | None
    broken: set[str] = set()
    try:
        parsed = WorkflowSpec.model_validate(raw)
        nodes, edges = list(enumerate(parsed.nodes)), list(enumerate(parsed.edges))
    except ValidationError as exc:
        parsed = None
        checker.pydantic(exc, raw)
        if not isinstance(raw.get("nodes"), list):
            return None, checker.problems
        nodes, edges, broken = _salvage(raw)
    if isinstance(raw.get("nodes"), list) and not raw["nodes"]:
        checker.graph_problem(None, "nodes", "empty", "The workflow needs at least one node")
    checker.run(nodes, edges, broken)
    return parsed, checker.problems


def _salvage(
    raw: Mapping[str, Any],
) -> tuple[list[tuple[int, Node]], list[tuple[int, Edge]], set[str]]:
    """The nodes and edges that parse on their own (with their positions) and the ids of the
    nodes that do not, so the graph checks can still run on a spec with field errors."""
    nodes: list[tuple[int, Node]] = []
    broken: set[str] = set()
    for i, item in enumerate(raw["nodes"]):
        try:
            nodes.append((i, Node.model_validate(item)))
        except ValidationError:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                broken.add(item["id"])
    edges: list[tuple[int, Edge]] = []
    raw_edges = raw.get("edges")
    for j, item in enumerate(raw_edges if isinstance(raw_edges, list) else []):
        try:
            edges.append((j, Edge.model_validate(item)))
        except ValidationError:
            continue
    return nodes, edges, broken


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _missing(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == [] or value == {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


class _Checker:
    def __init__(self, where: _Where) -> None:
        self.where = where
        self.problems: list[Problem] = []

    def node_problem(self, node_id: str, index: int, field: str, code: str, message: str) -> None:
        self.problems.append(
            Problem(self.where.node_id(node_id), self.where.field(index, field), code, message)
        )

    def graph_problem(self, node_id: str | None, field: str, code: str, message: str) -> None:
        self.problems.append(
            Problem(self.where.node_id(node_id), self.where.field(None, field), code, message)
        )

    def pydantic(self, exc: ValidationError, raw: Mapping[str, Any]) -> None:
        raw_nodes: list[Any] = raw["nodes"] if isinstance(raw.get("nodes"), list) else []
        for error in exc.errors():
            loc = tuple(error["loc"])
            message = f"{_loc(loc)}: {error['msg']}" if loc else error["msg"]
            index = loc[1] if len(loc) > 1 and loc[0] == "nodes" else None
            item = raw_nodes[index] if isinstance(index, int) and index < len(raw_nodes) else None
            node_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(index, int) and isinstance(node_id, str) and len(loc) > 2:
                self.node_problem(node_id, index, _loc(loc[2:]), "invalid", message)
            else:
                self.graph_problem(None, _loc(loc), "invalid", message)

    # -- the graph ------------------------------------------------------------------------

    def run(
        self, nodes: list[tuple[int, Node]], edges: list[tuple[int, Edge]], broken: set[str]
    ) -> None:
        by_id: dict[str, tuple[int, Node]] = {}
        for i, node in nodes:
            if node.id in by_id or node.id in broken:
                self.node_problem(
                    node.id, i, "id", "duplicate_id", f"Another node already has id {node.id!r}"
                )
            else:
                by_id[node.id] = (i, node)
        known = set(by_id) | broken
        for i, node in by_id.values():
            self.check_node(i, node, known)

        successors: dict[str, list[str]] = {node_id: [] for node_id in by_id}
        for j, edge in edges:
            ends_exist = True
            for end, value, other in (
                ("source", edge.source, edge.target),
                ("target", edge.target, edge.source),
            ):
                if value not in known:
                    ends_exist = False
                    self.graph_problem(
                        other if other in known else None,
                        f"edges[{j}].{end}",
                        "dangling_edge",
                        f"Edge {j}'s {end} {value!r} is not a node of this workflow",
                    )
            if ends_exist and edge.source in by_id:
                self.check_branch(j, edge, by_id[edge.source][1])
                if edge.target in by_id:
                    successors[edge.source].append(edge.target)

        cycles = _cycles(list(by_id), successors)
        on_cycle = {node_id: cycle for cycle in cycles for node_id in cycle}
        for node_id, (i, _) in by_id.items():
            if node_id in on_cycle:
                others = ", ".join(n for n in on_cycle[node_id] if n != node_id) or "itself"
                self.node_problem(
                    node_id,
                    i,
                    "",
                    "cycle",
                    f"The node is on a cycle (with {others}); use a map node to repeat steps",
                )
        if not broken:  # reachability through a node that failed to parse is unknowable
            self.check_reachable(by_id, successors, set(on_cycle))

    def check_reachable(
        self,
        by_id: Mapping[str, tuple[int, Node]],
        successors: Mapping[str, list[str]],
        on_cycle: set[str],
    ) -> None:
        """Roots are the `input` nodes, or without any, the nodes no edge leads to."""
        roots = [n for n, (_, node) in by_id.items() if node.type == "input"]
        what = "an input node"
        if not roots:
            targets = {t for targets in successors.values() for t in targets}
            roots = [n for n in by_id if n not in targets]
            what = "a start node (one without incoming edges)"
        seen = set(roots)
        queue = deque(roots)
        while queue:
            for nxt in successors[queue.popleft()]:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        for node_id, (i, _) in by_id.items():
            if node_id not in seen and node_id not in on_cycle:
                self.node_problem(
                    node_id, i, "", "unreachable", f"No path leads to this node from {what}"
                )

    def check_branch(self, j: int, edge: Edge, source: Node) -> None:
        field = f"edges[{j}].branch"
        if edge.branch == ERROR_BRANCH:
            if source.on_error.action != "route":
                self.graph_problem(
                    source.id,
                    field,
                    "invalid_branch",
                    f"An `error` edge needs {source.id!r} to have on_error.action `route`",
                )
            return
        allowed = _branches(source)
        if allowed is None:
            return
        if not allowed and edge.branch is not None:
            self.graph_problem(
                source.id,
                field,
                "invalid_branch",
                f"A {source.type} node has no branch {edge.branch!r}; leave `branch` empty"
                + (" or use `error`" if source.on_error.action == "route" else ""),
            )
        elif allowed and edge.branch not in allowed:
            self.graph_problem(
                source.id,
                field,
                "invalid_branch",
                f"An edge from a {source.type} node needs a branch: one of {', '.join(allowed)}",
            )

    # -- one node -------------------------------------------------------------------------

    def check_node(self, i: int, node: Node, known: set[str]) -> None:
        if node.type not in NODE_TYPES:
            self.node_problem(
                node.id,
                i,
                "type",
                "unknown_type",
                f"Unknown node type {node.type!r}; use one of: {', '.join(NODE_TYPES)}",
            )
            return
        config = node.config

        def report(key: str, code: str, message: str) -> None:
            self.node_problem(node.id, i, f"config.{key}", code, message)

        for key in REQUIRED.get(node.type, ()):
            if _missing(config.get(key)):
                report(key, "missing_config", f"A {node.type} node needs `config.{key}`")
        CONFIG_CHECKS.get(node.type, _no_checks)(config, report)

        expression_keys = EXPRESSION_KEYS.get(node.type, ())
        known_ids = known | self.where.outer_ids
        for key, value in config.items():
            if key in OPAQUE_KEYS.get(node.type, ()):
                continue
            is_expression = key in expression_keys
            if is_expression:
                if not isinstance(value, str) or not value.strip():
                    continue  # reported above as missing or mistyped
                messages = check_expression(value)
            else:
                messages = check_template(value)
            for message in messages:
                report(key, "bad_expression", message)
            if messages:
                continue
            for ref in sorted(referenced_nodes(value, expression=is_expression) - known_ids):
                report(key, "unknown_reference", f"`nodes.{ref}`: there is no node {ref!r}")
            for name in sorted(
                referenced_names(value, expression=is_expression) - self.where.names
            ):
                report(
                    key,
                    "unknown_reference",
                    f"{name!r} is not defined here; use {', '.join(sorted(self.where.names))}",
                )

        graph = config.get("graph")
        if node.type == "map" and isinstance(graph, dict) and graph:
            if self.where.depth >= MAX_MAP_DEPTH:
                report("graph", "invalid_config", f"Maps nest at most {MAX_MAP_DEPTH} deep")
                return
            inner = _Where(
                depth=self.where.depth + 1,
                owner=self.where.node_id(node.id),
                path=self.where.field(i, "config.graph"),
                outer_ids=frozenset(known_ids),
                names=SCOPE_NAMES | MAP_SCOPE_NAMES,
            )
            self.problems.extend(_check(graph, inner)[1])


def _branches(node: Node) -> tuple[str, ...] | None:
    """The branches a node's edges may take besides `error`; None when unknowable."""
    if node.type in FIXED_BRANCHES:
        return FIXED_BRANCHES[node.type]
    if node.type == "switch":
        cases = node.config.get("cases")
        if not isinstance(cases, list) or not all(_is_scalar(c) for c in cases):
            return None
        return (*dict.fromkeys(str(c) for c in cases), "default")
    return () if node.type in NODE_TYPES else None


# -- per-type config checks (None values count as absent; required keys are checked apart) --


def _string(config: Mapping[str, Any], key: str, report: Report) -> None:
    if config.get(key) is not None and not isinstance(config[key], str):
        report(key, "type_mismatch", f"`{key}` must be a string")


def _object_or_template(config: Mapping[str, Any], key: str, report: Report) -> None:
    if config.get(key) is not None and not isinstance(config[key], dict | str):
        report(key, "type_mismatch", f"`{key}` must be an object (or a template giving one)")


def _int_range(config: Mapping[str, Any], key: str, low: int, high: int, report: Report) -> None:
    value = config.get(key)
    if value is not None and not (_is_int(value) and low <= value <= high):
        report(key, "type_mismatch", f"`{key}` must be a whole number from {low} to {high}")


def _one_of(config: Mapping[str, Any], key: str, choices: tuple[str, ...], report: Report) -> None:
    if config.get(key) is not None and config[key] not in choices:
        report(key, "type_mismatch", f"`{key}` must be one of: {', '.join(choices)}")


def _no_checks(config: Mapping[str, Any], report: Report) -> None:
    return None


def _check_input(config: Mapping[str, Any], report: Report) -> None:
    schema = config.get("schema")
    if schema is None:
        return
    if not isinstance(schema, dict | bool):
        report("schema", "type_mismatch", "`schema` must be a JSON Schema object")
        return
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        report("schema", "invalid_config", f"`schema` is not a valid JSON Schema: {exc.message}")


def _check_agent(config: Mapping[str, Any], report: Report) -> None:
    _string(config, "agent_id", report)


def _check_llm(config: Mapping[str, Any], report: Report) -> None:
    _string(config, "prompt", report)
    _string(config, "system", report)
    model = config.get("model")
    if model is None:
        return
    if not isinstance(model, dict):
        report("model", "type_mismatch", "`model` must be an object")
        return
    if model.get("temperature") is not None and not (
        _is_number(model["temperature"]) and 0 <= model["temperature"] <= 2
    ):
        report("model", "type_mismatch", "`model.temperature` must be a number from 0 to 2")
    if model.get("max_tokens") is not None and not (
        _is_int(model["max_tokens"]) and model["max_tokens"] > 0
    ):
        report("model", "type_mismatch", "`model.max_tokens` must be a positive whole number")


def _check_tool(config: Mapping[str, Any], report: Report) -> None:
    _string(config, "tool", report)
    _object_or_template(config, "arguments", report)


def _check_knowledge_retrieval(config: Mapping[str, Any], report: Report) -> None:
    _string(config, "knowledge_base_id", report)
    _string(config, "query", report)
    _int_range(config, "top_k", 1, 50, report)


def _check_http_request(config: Mapping[str, Any], report: Report) -> None:
    _string(config, "url", report)
    _one_of(config, "method", HTTP_METHODS, report)
    _object_or_template(config, "headers", report)


def _check_condition(config: Mapping[str, Any], report: Report) -> None:
    _string(config, "expression", report)


def _check_switch(config: Mapping[str, Any], report: Report) -> None:
    _string(config, "expression", report)
    cases = config.get("cases")
    if cases is None:
        return
    if not isinstance(cases, list) or not all(_is_scalar(c) for c in cases):
        report("cases", "type_mismatch", "`cases` must be a list of strings or numbers")
    elif ERROR_BRANCH in (str(c) for c in cases):
        report("cases", "invalid_config", "`error` is the error branch; it cannot be a case")


def _check_map(config: Mapping[str, Any], report: Report) -> None:
    _string(config, "items", report)
    if config.get("graph") is not None and not isinstance(config["graph"], dict):
        report("graph", "type_mismatch", "`graph` must be a workflow: {nodes, edges}")
    _int_range(config, "concurrency", 1, 100, report)


def _check_wait(config: Mapping[str, Any], report: Report) -> None:
    seconds, until = config.get("seconds"), config.get("until")
    if seconds is None and _missing(until):
        report("seconds", "missing_config", "A wait node needs `config.seconds` or `config.until`")
    elif seconds is not None and until is not None:
        report("until", "invalid_config", "Set `seconds` or `until`, not both")
    if seconds is not None and not (_is_number(seconds) and seconds >= 0):
        report("seconds", "type_mismatch", "`seconds` must be a number of seconds, 0 or more")
    _string(config, "until", report)


def _check_human_approval(config: Mapping[str, Any], report: Report) -> None:
    _string(config, "prompt", report)
    timeout = config.get("timeout_seconds")
    if timeout is not None and not (_is_number(timeout) and timeout > 0):
        report("timeout_seconds", "type_mismatch", "`timeout_seconds` must be a positive number")
    _one_of(config, "default", ("approve", "reject"), report)


def _check_join(config: Mapping[str, Any], report: Report) -> None:
    _one_of(config, "mode", ("all", "any"), report)


CONFIG_CHECKS: dict[str, Callable[[Mapping[str, Any], Report], None]] = {
    "input": _check_input,
    "agent": _check_agent,
    "llm": _check_llm,
    "tool": _check_tool,
    "knowledge_retrieval": _check_knowledge_retrieval,
    "http_request": _check_http_request,
    "condition": _check_condition,
    "switch": _check_switch,
    "map": _check_map,
    "wait": _check_wait,
    "human_approval": _check_human_approval,
    "join": _check_join,
}


def _cycles(ids: list[str], successors: Mapping[str, list[str]]) -> list[list[str]]:
    """The cycles of the graph: strongly connected components with more than one node or a
    self-loop (Tarjan's algorithm, iterative so deep graphs do not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node_id: str) -> None:
        index[node_id] = low[node_id] = len(index)
        stack.append(node_id)
        on_stack.add(node_id)

    for root in ids:
        if root in index:
            continue
        visit(root)
        work = [(root, iter(successors[root]))]
        while work:
            node_id, pending = work[-1]
            for nxt in pending:
                if nxt not in index:
                    visit(nxt)
                    work.append((nxt, iter(successors[nxt])))
                    break
                if nxt in on_stack:
                    low[node_id] = min(low[node_id], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node_id])
                if low[node_id] == index[node_id]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node_id:
                            break
                    if len(component) > 1 or node_id in successors[node_id]:
                        found.append(component[::-1])
    return found
