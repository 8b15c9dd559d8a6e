from __future__ import annotations

import copy
from typing import Any

import pytest

from codexos_server.errors import ValidationFailed
from codexos_server.workflows.validate import Problem, problems_error, validate


def node(node_id: str, node_type: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "config": config}


def edge(source: str, target: str, branch: str | None = None) -> dict[str, Any]:
    return {"source": source, "target": target, "branch": branch}


def complex_spec() -> dict[str, Any]:
    """input -> agent -> condition (true: template, false: output); parallel -> 2 -> join;
    map with a sub-graph; switch; approval; wait; an error route."""
    research = node("research", "agent", agent_id="agt_1", input="Research {{ inputs.topic }}")
    research["on_error"] = {"action": "route"}
    return {
        "nodes": [
            node(
                "in",
                "input",
                schema={"type": "object", "properties": {"topic": {"type": "string"}}},
            ),
            research,
            node("failed", "output", value="research failed"),
            node("check", "condition", expression="nodes.research.output | length > 10"),
            node("draft", "template", template="Draft: {{ nodes.research.output }}"),
            node("short", "output", value="{{ nodes.research.output }}"),
            node("fan", "parallel"),
            node(
                "summary",
                "llm",
                prompt="Summarise {{ nodes.draft.output }}",
                model={"temperature": 0.2},
            ),
            node(
                "post",
                "http_request",
                url="https://example.com/{{ inputs.topic }}",
                method="POST",
                headers={"X-Topic": "{{ inputs.topic }}"},
            ),
            node("both", "join", mode="all"),
            node(
                "each",
                "map",
                items="inputs.topics",
                concurrency=2,
                graph={
                    "nodes": [
                        node("one", "template", template="{{ item }} #{{ index }}"),
                        node(
                            "lookup",
                            "knowledge_retrieval",
                            knowledge_base_id="kb_1",
                            query="{{ nodes.one.output }}",
                            top_k=3,
                        ),
                    ],
                    "edges": [edge("one", "lookup")],
                },
            ),
            node("kind", "switch", expression="inputs.kind", cases=["fast", "slow"]),
            node("pause", "wait", seconds=5),
            node(
                "ask",
                "human_approval",
                prompt="OK? {{ nodes.each.output }}",
                timeout_seconds=3600,
                default="reject",
            ),
            node(
                "tooling", "tool", tool="calculator", arguments={"expression": "{{ inputs.n }} + 1"}
            ),
            node("done", "output", value={"items": "{{ nodes.each.output }}"}),
        ],
        "edges": [
            edge("in", "research"),
            edge("research", "failed", "error"),
            edge("research", "check"),
            edge("check", "draft", "true"),
            edge("check", "short", "false"),
            edge("draft", "fan"),
            edge("fan", "summary"),
            edge("fan", "post"),
            edge("summary", "both"),
            edge("post", "both"),
            edge("both", "each"),
            edge("each", "kind"),
            edge("kind", "pause", "slow"),
            edge("kind", "ask", "fast"),
            edge("kind", "tooling", "default"),
            edge("pause", "ask"),
            edge("ask", "done", "approved"),
            edge("ask", "tooling", "rejected"),
        ],
    }


def find(spec: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in spec["nodes"] if n["id"] == node_id)


def problems_of(spec: dict[str, Any]) -> list[Problem]:
    _, problems = validate(spec)
    assert problems, "expected problems"
    return problems


def codes(problems: list[Problem]) -> set[tuple[str | None, str]]:
    return {(p.node_id, p.code) for p in problems}


def test_a_valid_complex_spec_has_no_problems() -> None:
    parsed, problems = validate(complex_spec())
    assert problems == []
    assert parsed is not None
    assert len(parsed.nodes) == 16


def test_pydantic_errors_carry_the_node_id() -> None:
    spec = complex_spec()
    find(spec, "pause")["timeout_seconds"] = -1
    spec["nodes"].append({"type": "template"})
    parsed, problems = validate(spec)
    assert parsed is None
    assert ("pause", "invalid") in codes(problems)
    assert next(p for p in problems if p.node_id == "pause").field == "timeout_seconds"
    assert any(p.node_id is None and p.field == "nodes[16].id" for p in problems)


def test_not_an_object_and_empty() -> None:
    assert codes(validate([])[1]) == {(None, "invalid")}  # type: ignore[arg-type]
    assert codes(validate({"nodes": []})[1]) == {(None, "empty")}


def test_duplicate_id() -> None:
    spec = complex_spec()
    spec["nodes"].append(node("draft", "template", template="again"))
    assert codes(problems_of(spec)) == {("draft", "duplicate_id")}


def test_unknown_type() -> None:
    spec = complex_spec()
    find(spec, "draft")["type"] = "teleport"
    problems = problems_of(spec)
    assert codes(problems) == {("draft", "unknown_type")}
    assert problems[0].field == "type"


def test_dangling_edge() -> None:
    spec = complex_spec()
    spec["edges"].append(edge("draft", "ghost"))
    spec["edges"].append(edge("nowhere", "nothing"))
    problems = problems_of(spec)
    assert [(p.node_id, p.field, p.code) for p in problems] == [
        ("draft", "edges[18].target", "dangling_edge"),
        (None, "edges[19].source", "dangling_edge"),
        (None, "edges[19].target", "dangling_edge"),
    ]


def test_cycle() -> None:
    spec = complex_spec()
    spec["edges"].append(edge("both", "fan"))
    assert codes(problems_of(spec)) == {
        ("fan", "cycle"),
        ("summary", "cycle"),
        ("post", "cycle"),
        ("both", "cycle"),
    }


def test_self_loop_is_a_cycle() -> None:
    spec = complex_spec()
    spec["edges"].append(edge("pause", "pause"))
    assert codes(problems_of(spec)) == {("pause", "cycle")}


def test_unreachable() -> None:
    spec = complex_spec()
    spec["nodes"].append(node("orphan", "template", template="alone"))
    spec["nodes"].append(node("after_orphan", "template", template="alone"))
    spec["edges"].append(edge("orphan", "after_orphan"))
    assert codes(problems_of(spec)) == {("orphan", "unreachable"), ("after_orphan", "unreachable")}


def test_without_input_nodes_every_start_node_is_a_root() -> None:
    spec = {
        "nodes": [node("a", "template", template="x"), node("b", "output"), node("c", "output")],
        "edges": [edge("a", "b")],
    }
    assert validate(spec)[1] == []


@pytest.mark.parametrize(
    ("node_id", "node_type", "config", "field"),
    [
        ("research", "agent", {}, "config.agent_id"),
        ("summary", "llm", {"prompt": "  "}, "config.prompt"),
        ("tooling", "tool", {"arguments": {}}, "config.tool"),
        ("post", "http_request", {"method": "GET"}, "config.url"),
        ("check", "condition", {}, "config.expression"),
        ("kind", "switch", {"expression": "inputs.kind"}, "config.cases"),
        ("each", "map", {"items": "inputs.topics"}, "config.graph"),
        ("draft", "template", {}, "config.template"),
        ("pause", "wait", {}, "config.seconds"),
    ],
)
def test_missing_config(node_id: str, node_type: str, config: dict[str, Any], field: str) -> None:
    spec = complex_spec()
    target = find(spec, node_id)
    assert target["type"] == node_type
    target["config"] = config
    problems = [p for p in problems_of(spec) if p.code == "missing_config"]
    assert [(p.node_id, p.field) for p in problems] == [(node_id, field)]


def test_knowledge_retrieval_needs_both_keys() -> None:
    spec = complex_spec()
    find(spec, "each")["config"]["graph"]["nodes"][1]["config"] = {"top_k": 2}
    problems = problems_of(spec)
    assert [(p.node_id, p.code, p.field) for p in problems] == [
        ("each/lookup", "missing_config", "config.graph.nodes[1].config.knowledge_base_id"),
        ("each/lookup", "missing_config", "config.graph.nodes[1].config.query"),
    ]


@pytest.mark.parametrize(
    ("node_id", "key", "value"),
    [
        ("pause", "seconds", -1),
        ("pause", "seconds", "5"),
        ("each", "concurrency", 0),
        ("each", "concurrency", 101),
        ("each", "concurrency", True),
        ("each", "items", ["a"]),
        ("kind", "cases", "fast,slow"),
        ("kind", "cases", [{"a": 1}]),
        ("kind", "expression", 3),
        ("check", "expression", True),
        ("ask", "timeout_seconds", 0),
        ("ask", "default", "maybe"),
        ("post", "method", "FETCH"),
        ("post", "headers", ["X: 1"]),
        ("tooling", "arguments", 5),
        ("tooling", "tool", 7),
        ("research", "agent_id", 12),
        ("both", "mode", "some"),
        ("summary", "model", {"temperature": 9}),
        ("in", "schema", "object"),
    ],
)
def test_type_mismatch(node_id: str, key: str, value: Any) -> None:
    spec = complex_spec()
    find(spec, node_id)["config"][key] = value
    problems = problems_of(spec)
    mismatches = [p for p in problems if p.code == "type_mismatch"]
    assert [(p.node_id, p.field) for p in mismatches] == [(node_id, f"config.{key}")]


def test_top_k_and_nested_type_mismatch() -> None:
    spec = complex_spec()
    find(spec, "each")["config"]["graph"]["nodes"][1]["config"]["top_k"] = 500
    assert codes(problems_of(spec)) == {("each/lookup", "type_mismatch")}


def test_invalid_json_schema() -> None:
    spec = complex_spec()
    find(spec, "in")["config"]["schema"] = {"type": "no-such-type"}
    problems = problems_of(spec)
    assert [(p.node_id, p.code, p.field) for p in problems] == [
        ("in", "invalid_config", "config.schema")
    ]


def test_bad_expression_in_a_template() -> None:
    spec = complex_spec()
    find(spec, "draft")["config"]["template"] = "Draft: {{ nodes.research.output "
    find(spec, "post")["config"]["headers"] = {"X-Topic": "{% if %}"}
    problems = problems_of(spec)
    assert [(p.node_id, p.code, p.field) for p in problems] == [
        ("draft", "bad_expression", "config.template"),
        ("post", "bad_expression", "config.headers"),
    ]
    assert "X-Topic" in problems[1].message


def test_bad_expression_in_a_condition_and_map_items() -> None:
    spec = complex_spec()
    find(spec, "check")["config"]["expression"] = "nodes.research.output >"
    find(spec, "each")["config"]["items"] = "inputs.topics inputs"
    problems = problems_of(spec)
    assert [(p.node_id, p.code, p.field) for p in problems] == [
        ("check", "bad_expression", "config.expression"),
        ("each", "bad_expression", "config.items"),
    ]


def test_unknown_reference() -> None:
    spec = complex_spec()
    find(spec, "draft")["config"]["template"] = "{{ nodes.reserch.output }}"
    find(spec, "check")["config"]["expression"] = "nodes['nope'].output"
    find(spec, "short")["config"]["value"] = "{{ input.topic }}"
    problems = problems_of(spec)
    assert [(p.node_id, p.code) for p in problems] == [
        ("check", "unknown_reference"),
        ("draft", "unknown_reference"),
        ("short", "unknown_reference"),
    ]
    assert "reserch" in problems[1].message
    assert "'input'" in problems[2].message


def test_item_and_index_exist_only_inside_a_map() -> None:
    spec = complex_spec()
    find(spec, "draft")["config"]["template"] = "{{ item }}"
    assert codes(problems_of(spec)) == {("draft", "unknown_reference")}


def test_a_map_graph_may_reference_its_own_and_enclosing_nodes() -> None:
    spec = complex_spec()
    inner = find(spec, "each")["config"]["graph"]["nodes"][0]
    inner["config"]["template"] = "{{ nodes.draft.output }} {{ item }}"
    assert validate(spec)[1] == []
    inner["config"]["template"] = "{{ nodes.ghost.output }}"
    assert codes(problems_of(spec)) == {("each/one", "unknown_reference")}


@pytest.mark.parametrize(
    ("source", "target", "branch"),
    [
        ("check", "draft", "yes"),  # condition: true/false only
        ("check", "draft", None),  # a condition's edges need a branch
        ("ask", "done", "ok"),  # human_approval: approved/rejected
        ("kind", "pause", "medium"),  # switch: a case or default
        ("fan", "summary", "left"),  # parallel has no branches
        ("check", "draft", "error"),  # error needs on_error.action route
    ],
)
def test_invalid_branch(source: str, target: str, branch: str | None) -> None:
    spec = complex_spec()
    found = next(e for e in spec["edges"] if e["source"] == source and e["target"] == target)
    found["branch"] = branch
    problems = problems_of(spec)
    assert [(p.node_id, p.code) for p in problems] == [(source, "invalid_branch")]
    assert problems[0].field.endswith(".branch")


def test_switch_cannot_have_an_error_case() -> None:
    spec = complex_spec()
    find(spec, "kind")["config"]["cases"] = ["fast", "slow", "error"]
    assert codes(problems_of(spec)) == {("kind", "invalid_config")}


def test_nested_map_problems() -> None:
    spec = complex_spec()
    graph = find(spec, "each")["config"]["graph"]
    graph["nodes"][0]["config"] = {}
    graph["edges"].append(edge("lookup", "ghost"))
    graph["nodes"].append(node("stray", "mystery"))
    problems = problems_of(spec)
    assert [(p.node_id, p.code, p.field) for p in problems] == [
        ("each/one", "missing_config", "config.graph.nodes[0].config.template"),
        ("each/stray", "unknown_type", "config.graph.nodes[2].type"),
        ("each/lookup", "dangling_edge", "config.graph.edges[1].target"),
    ]


def test_map_graph_must_have_nodes() -> None:
    spec = complex_spec()
    find(spec, "each")["config"]["graph"] = {"nodes": [], "edges": []}
    problems = problems_of(spec)
    assert [(p.node_id, p.code, p.field) for p in problems] == [
        ("each", "empty", "config.graph.nodes")
    ]


def test_nested_map_in_map() -> None:
    spec = complex_spec()
    graph = find(spec, "each")["config"]["graph"]
    graph["nodes"].append(
        node(
            "inner_map",
            "map",
            items="item.parts",
            graph={"nodes": [node("deep", "llm", prompt="{{ nodes.zzz }}")]},
        )
    )
    graph["edges"].append(edge("lookup", "inner_map"))
    problems = problems_of(spec)
    assert [(p.node_id, p.code, p.field) for p in problems] == [
        (
            "each/inner_map/deep",
            "unknown_reference",
            "config.graph.nodes[2].config.graph.nodes[0].config.prompt",
        )
    ]


def test_map_nesting_is_limited() -> None:
    graph: dict[str, Any] = {"nodes": [node("leaf", "output")]}
    for _ in range(400):
        graph = {"nodes": [node("m", "map", items="inputs.parts", graph=graph)]}
    problems = problems_of(graph)
    assert [(p.node_id, p.code) for p in problems] == [("m/m/m/m/m/m", "invalid_config")]


def test_several_problems_are_reported_together() -> None:
    spec = complex_spec()
    find(spec, "draft")["type"] = "teleport"
    find(spec, "pause")["config"]["seconds"] = -5
    find(spec, "check")["config"]["expression"] = "nodes.research.output >"
    find(spec, "summary")["config"]["prompt"] = "{{ nodes.missing.output }}"
    find(spec, "post")["timeout_seconds"] = 0  # a field error: the graph checks still run
    spec["edges"].append(edge("fan", "ghost"))
    spec["edges"].append(edge("ask", "done", "maybe"))
    parsed, problems = validate(spec)
    assert parsed is None
    assert codes(problems) == {
        ("post", "invalid"),
        ("draft", "unknown_type"),
        ("pause", "type_mismatch"),
        ("check", "bad_expression"),
        ("summary", "unknown_reference"),
        ("fan", "dangling_edge"),
        ("ask", "invalid_branch"),
    }


def test_the_spec_is_not_modified() -> None:
    spec = complex_spec()
    before = copy.deepcopy(spec)
    validate(spec)
    assert spec == before


def test_problems_error() -> None:
    spec = complex_spec()
    find(spec, "draft")["type"] = "teleport"
    spec["edges"].append(edge("fan", "ghost"))
    error = problems_error(validate(spec)[1])
    assert isinstance(error, ValidationFailed)
    assert error.status_code == 422
    assert error.message == "The workflow has 2 problems"
    assert error.details == [
        {
            "node_id": "draft",
            "field": "type",
            "code": "unknown_type",
            "message": error.details[0]["message"],
        },
        {
            "node_id": "fan",
            "field": "edges[18].target",
            "code": "dangling_edge",
            "message": error.details[1]["message"],
        },
    ]
    assert (
        problems_error([Problem(None, "nodes", "empty", "x")]).message
        == "The workflow has 1 problem"
    )
