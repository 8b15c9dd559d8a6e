from __future__ import annotations

from typing import Any

import pytest

from codexos_server.workflows.expressions import (
    ExpressionError,
    check_expression,
    check_template,
    evaluate,
    referenced_names,
    referenced_nodes,
    render,
)

SCOPE: dict[str, Any] = {
    "inputs": {"topic": "bees", "tags": ["a", "b"], "n": 3},
    "nodes": {
        "review": {"output": {"score": 8, "notes": ["ok"]}, "status": "succeeded", "branch": None},
    },
}


def test_single_expression_keeps_the_native_value() -> None:
    assert render("{{ nodes.review.output }}", SCOPE) == {"score": 8, "notes": ["ok"]}
    assert render("{{ inputs.tags }}", SCOPE) == ["a", "b"]
    assert render("{{ inputs.n * 2 }}", SCOPE) == 6
    assert render("{{- inputs.n -}}", SCOPE) == 3
    assert render("{{ -inputs.n }}", SCOPE) == -3
    assert render("{{ inputs.tags | map('upper') }}", SCOPE) == ["A", "B"]


def test_string_interpolation() -> None:
    assert (
        render("Write about {{ inputs.topic }} ({{ inputs.n }})", SCOPE) == "Write about bees (3)"
    )
    assert render("{{ inputs.topic }}{{ inputs.n }}", SCOPE) == "bees3"
    assert render("{% for t in inputs.tags %}{{ loop.index }}{{ t }}{% endfor %}", SCOPE) == "1a2b"
    assert render("{{ nodes.review.output | json }}", SCOPE) == '{"score": 8, "notes": ["ok"]}'
    assert render("plain text", SCOPE) == "plain text"


def test_nested_values_are_rendered_and_others_unchanged() -> None:
    value = {"a": ["{{ inputs.topic }}", 5, None], "b": {"c": "x{{ inputs.n }}"}, "d": True}
    assert render(value, SCOPE) == {"a": ["bees", 5, None], "b": {"c": "x3"}, "d": True}
    assert render(42, SCOPE) == 42


@pytest.mark.parametrize(
    "template",
    ["{{ missing }}", "{{ inputs.nope }}", "Hi {{ nodes.absent.output }}", "{{ nodes.absent }}"],
)
def test_missing_references_are_errors(template: str) -> None:
    with pytest.raises(ExpressionError):
        render(template, SCOPE)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ inputs.__class__.__mro__ }}",
        "x {{ inputs.__class__ }}",
        "{{ inputs.tags.append('c') }}",
        "{{ 'a' * 10000000 }}",
        "{{ (10 ** 4000) ** 4000 }}",
    ],
)
def test_the_sandbox_blocks_unsafe_access(template: str) -> None:
    with pytest.raises(ExpressionError):
        render(template, SCOPE)
    assert SCOPE["inputs"]["tags"] == ["a", "b"]


def test_output_size_is_limited() -> None:
    template = (
        "{% for i in range(100000) %}{% for j in range(100) %}xxxxxxxxxx{% endfor %}{% endfor %}"
    )
    with pytest.raises(ExpressionError, match="exceeds"):
        render(template, SCOPE)


def test_syntax_and_runtime_errors() -> None:
    with pytest.raises(ExpressionError, match="line 1"):
        render("{{ inputs.topic ", SCOPE)
    with pytest.raises(ExpressionError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}", SCOPE)


def test_evaluate() -> None:
    assert evaluate("nodes.review.output.score > 7", SCOPE) is True
    assert evaluate("nodes.review.output.score > 9", SCOPE) is False
    assert evaluate("inputs.topic == 'bees' and 'a' in inputs.tags", SCOPE) is True
    assert evaluate("inputs.tags", SCOPE) == ["a", "b"]
    assert evaluate("{{ inputs.n + 1 }}", SCOPE) == 4
    for bad in ("nodes.missing.output > 1", "inputs.__class__", "inputs >", ""):
        with pytest.raises(ExpressionError):
            evaluate(bad, SCOPE)


def test_checks_report_syntax_errors_only() -> None:
    assert check_template({"a": ["{{ inputs.anything }}", "plain"], "b": 3}) == []
    problems = check_template({"a": ["ok", "{{ broken "], "b": "{% if %}"})
    assert len(problems) == 2
    assert problems[0].startswith("a[1]: ")
    assert check_template("{% for %}")[0].endswith("(line 1)")
    assert check_expression("nodes.x.output.score > 7") == []
    assert check_expression("score >")
    assert check_expression("a b")
    assert check_expression("  ")


def test_referenced_nodes() -> None:
    value = {
        "prompt": "{{ nodes.research.output }} and {{ nodes['web-search'].output }}",
        "list": ["{% if nodes.check.branch == 'true' %}x{% endif %}", "nodes.plain_text"],
        "other": "{{ inputs.nodes.not_a_node }}",
    }
    assert referenced_nodes(value) == {"research", "web-search", "check"}
    assert referenced_nodes("nodes.a.output > nodes['b'].output", expression=True) == {"a", "b"}
    assert referenced_nodes("{{ broken ") == set()


def test_referenced_names() -> None:
    template = (
        "{% for t in inputs.tags %}{{ loop.index }}{{ t }}{{ range(2) }}{% endfor %}{{ item }}"
    )
    assert referenced_names(template) == {"inputs", "item"}
    assert referenced_names("index > 2 and nodes.a", expression=True) == {"index", "nodes"}
