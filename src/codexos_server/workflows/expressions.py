"""The template and expression language of workflow configs: Jinja2 in an immutable sandbox.

A config string is a template (`"Summarise {{ nodes.research.output }}"`); a string that is
exactly one `{{ expr }}` yields the expression's native value (a dict stays a dict). The
`expression` of `condition`/`switch` and `items` of `map` are bare expressions
(`nodes.review.output.score > 7`). A missing name or key is an error, never an empty string.
Scope names: `inputs`, `nodes` (id -> {"output", "status", "branch"}), and inside a `map`
sub-graph `item` and `index`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import (
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
    meta,
    nodes,
)
from jinja2.environment import Template, TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 1_000_000
MAX_POWER_BITS = 100_000
SCOPE_NAMES = frozenset({"inputs", "nodes"})
MAP_SCOPE_NAMES = frozenset({"item", "index"})

_MARKERS = ("{{", "{%", "{#")
_SINGLE = re.compile(r"\A\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\Z", re.DOTALL)
# What user code may raise while rendering: all of it is the template's fault, not ours.
_USER_ERRORS = (
    TemplateError,
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    RecursionError,
)


class ExpressionError(Exception):
    """A template or expression failed to parse or evaluate."""


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, indent=indent)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus guards on `*` and `**`, which can exhaust memory or CPU
    (`'a' * 10**10`, `(10**4000) ** 4000`) before any output limit applies."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > MAX_OUTPUT_CHARS
                ):
                    raise SecurityError("the repeated sequence would be too large")
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and left.bit_length() * right > MAX_POWER_BITS
        ):
            raise SecurityError("the power would be too large")
        return super().call_binop(context, operator, left, right)


_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENV.filters["json"] = _json


def _message(exc: BaseException) -> str:
    if isinstance(exc, TemplateSyntaxError):
        text = f"{exc.message} (line {exc.lineno})" if exc.lineno else str(exc.message)
    elif isinstance(exc, TemplateError):
        text = exc.message or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


def _has_markers(source: str) -> bool:
    return any(marker in source for marker in _MARKERS)


def _single_expression(source: str) -> str | None:
    """The inner expression of a string that is exactly one `{{ expr }}`, else None."""
    match = _SINGLE.match(source)
    if match is None:
        return None
    inner = match.group("expr")
    # `{{-` and `-}}` (or `+`) control whitespace; they are not part of the expression.
    inner = inner[1:] if inner[:1] in ("-", "+") else inner
    inner = inner[:-1] if inner[-1:] in ("-", "+") else inner
    return inner.strip()


@lru_cache(maxsize=2048)
def _template(source: str) -> Template:
    return _ENV.from_string(source)


@lru_cache(maxsize=2048)
def _expression(source: str) -> TemplateExpression:
    return _ENV.compile_expression(source, undefined_to_none=False)


def _native(value: Any) -> Any:
    """Make an expression's result plain data: fail on undefined, drain lazy sequences."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises the precise UndefinedError / SecurityError
        raise ExpressionError("undefined value")
    if isinstance(value, str | bytes | Mapping | list):
        return value
    if isinstance(value, tuple | Iterator | range) or (
        isinstance(value, Iterable) and type(value).__module__ == "builtins"
    ):
        return list(value)
    return value


def _render_string(source: str, scope: Mapping[str, Any]) -> Any:
    if not _has_markers(source):
        return source
    expression = _single_expression(source)
    try:
        if expression is not None:
            return _native(_expression(expression)(**scope))
        parts: list[str] = []
        size = 0
        for chunk in _template(source).generate(**scope):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise ExpressionError(f"the rendered text exceeds {MAX_OUTPUT_CHARS} characters")
            parts.append(chunk)
        return "".join(parts)
    except _USER_ERRORS as exc:
        raise ExpressionError(_message(exc)) from exc


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render every template in `value` (strings, inside dicts and lists); other values are
    returned unchanged. Raises: ExpressionError."""
    if isinstance(value, str):
        return _render_string(value, scope)
    if isinstance(value, dict):
        return {key: render(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, scope) for item in value]
    return value


def _bare(source: str) -> str:
    """Accept an expression written as a template, `{{ x > 1 }}`, as well as `x > 1`."""
    inner = _single_expression(source.strip())
    return inner if inner is not None else source


def evaluate(expression: str, scope: Mapping[str, Any]) -> Any:
    """The value of a bare expression. Raises: ExpressionError."""
    try:
        return _native(_expression(_bare(expression))(**scope))
    except _USER_ERRORS as exc:
        raise ExpressionError(_message(exc)) from exc


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside value with its dotted path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def _parse_template(source: str) -> nodes.Template:
    return _ENV.parse(source)


def _parse_expression(source: str) -> nodes.Template:
    """A bare expression as a template AST (`{{ source }}`), for the AST walkers."""
    parser = Parser(_ENV, _bare(source), state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        token = parser.stream.current
        raise TemplateSyntaxError(
            f"unexpected {token.value!r} after the expression", token.lineno, None, None
        )
    tree = nodes.Template([nodes.Output([expr], lineno=1)], lineno=1)
    tree.set_environment(_ENV)
    return tree


def _trees(value: Any, expression: bool) -> Iterator[nodes.Template]:
    """The ASTs of the templates (or expressions) in value; unparseable ones are skipped."""
    for _, source in _strings(value):
        if not expression and not _has_markers(source):
            continue
        try:
            yield _parse_expression(source) if expression else _parse_template(source)
        except TemplateSyntaxError:
            continue


def _with_path(path: str, message: str) -> str:
    return f"{path}: {message}" if path else message


def check_template(value: Any) -> list[str]:
    """Syntax problems of the templates inside value (prefixed by their path when nested)."""
    problems = []
    for path, source in _strings(value):
        if not _has_markers(source):
            continue
        try:
            _template(source)
        except TemplateSyntaxError as exc:
            problems.append(_with_path(path, _message(exc)))
    return problems


def check_expression(source: str) -> list[str]:
    """Syntax problems of a bare expression."""
    if not source.strip():
        return ["the expression is empty"]
    try:
        _parse_expression(source)
        _expression(_bare(source))
    except TemplateSyntaxError as exc:
        return [_message(exc)]
    return []


def _is_nodes(expr: object) -> bool:
    return isinstance(expr, nodes.Name) and expr.name == "nodes"


def referenced_nodes(value: Any, *, expression: bool = False) -> set[str]:
    """Node ids referenced as `nodes.<id>` or `nodes['<id>']` in the templates inside value
    (or, with `expression=True`, in value read as bare expressions)."""
    found: set[str] = set()
    for tree in _trees(value, expression):
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            if not _is_nodes(getattr(node, "node", None)):
                continue
            if isinstance(node, nodes.Getattr):
                found.add(node.attr)
            elif (
                isinstance(node, nodes.Getitem)
                and isinstance(node.arg, nodes.Const)
                and isinstance(node.arg.value, str)
            ):
                found.add(node.arg.value)
    return found


def referenced_names(value: Any, *, expression: bool = False) -> set[str]:
    """Top-level names the templates inside value read from the scope (loop variables, `set`
    targets and the sandbox's globals such as `range` excluded)."""
    found: set[str] = set()
    for tree in _trees(value, expression):
        found |= meta.find_undeclared_variables(tree)
    return found - set(_ENV.globals)
