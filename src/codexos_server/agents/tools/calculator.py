"""The `calculator` tool: arithmetic evaluated by walking the expression's AST.

Python never evaluates the input (no eval/exec/compile): the expression is parsed with
`ast` and only number literals, + - * / // % **, unary + and -, parentheses, and the
functions and constants listed below are accepted; any other name, attribute, call or
syntax is refused before anything runs.

A hostile expression stays cheap: its length and nesting depth are capped, and integer
results are bounded *before* a power or product is computed (Python would happily spend
minutes on `9**9**9`). Floats that overflow to infinity, complex results and math domain
errors are reported instead of returned.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from codexos_server.agents.tools.base import ToolContext, ToolError, register_tool

Number = int | float

MAX_EXPRESSION_CHARS = 500
MAX_DEPTH = 200
MAX_INT_BITS = 4096  # about 1,230 decimal digits

_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(x)
    if not isinstance(ndigits, int):
        raise TypeError("round() digits must be an integer")
    return round(x, ndigits)


# name -> (function, min args, max args)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "asin": (math.asin, 1, 1),
    "acos": (math.acos, 1, 1),
    "atan": (math.atan, 1, 1),
    "exp": (math.exp, 1, 1),
    "log": (math.log, 1, 2),
    "log10": (math.log10, 1, 1),
    "log2": (math.log2, 1, 1),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (min, 2, 50),
    "max": (max, 2, 50),
}


def _power(base: Number, exponent: Number) -> Number:
    """`base ** exponent`, refusing integer results too large to compute quickly."""
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log2(abs(base)) > MAX_INT_BITS
    ):
        raise OverflowError
    result: Number | complex = base**exponent
    if isinstance(result, complex):
        raise ToolError("the result is not a real number")
    return result


def _multiply(a: Number, b: Number) -> Number:
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise OverflowError
    return a * b


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _multiply,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def _checked(value: Any) -> Number:
    """Every intermediate value must be a finite real number of bounded size."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError("the result is not a real number")
    if isinstance(value, float) and not math.isfinite(value):
        raise OverflowError
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise OverflowError
    return value


def _eval(node: ast.AST, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise ToolError(f"the expression is nested too deeply (limit {MAX_DEPTH})")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ToolError(f"only numbers are allowed, not {node.value!r}")
        return _checked(node.value)
    if isinstance(node, ast.BinOp):
        op = _BINARY.get(type(node.op))
        if op is None:
            hint = "; use ** for powers" if isinstance(node.op, ast.BitXor) else ""
            raise ToolError(f"operator {_source(node.op)} is not supported{hint}")
        return _checked(op(_eval(node.left, depth + 1), _eval(node.right, depth + 1)))
    if isinstance(node, ast.UnaryOp):
        unary = _UNARY.get(type(node.op))
        if unary is None:
            raise ToolError(f"operator {_source(node.op)} is not supported")
        return _checked(unary(_eval(node.operand, depth + 1)))
    if isinstance(node, ast.Name):
        if node.id not in _CONSTANTS:
            raise ToolError(f"unknown name {node.id!r}; constants: {', '.join(_CONSTANTS)}")
        return _CONSTANTS[node.id]
    if isinstance(node, ast.Call):
        return _call(node, depth)
    if isinstance(node, ast.Attribute):
        raise ToolError("attribute access is not allowed")
    raise ToolError(f"{_source(node)!r} is not allowed in an arithmetic expression")


def _call(node: ast.Call, depth: int) -> Number:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
        raise ToolError(
            f"unknown function {_source(node.func)!r}; functions: {', '.join(_FUNCTIONS)}"
        )
    name = node.func.id
    function, low, high = _FUNCTIONS[name]
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise ToolError(f"{name}() takes positional arguments only")
    if not low <= len(node.args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise ToolError(f"{name}() takes {expected} argument(s), got {len(node.args)}")
    args = [_eval(a, depth + 1) for a in node.args]
    return _checked(function(*args))


_SYMBOLS: dict[type[ast.AST], str] = {
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Not: "not",
}


def _source(node: ast.AST) -> str:
    symbol = _SYMBOLS.get(type(node))
    return symbol if symbol is not None else ast.unparse(node)[:60]


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression safely.

    Raises: ToolError with a message meant for the model (what was wrong, what is allowed).
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"the expression is too long (limit {MAX_EXPRESSION_CHARS} characters)")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"invalid expression: {exc.msg}") from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ToolError("invalid expression") from exc
    try:
        return _eval(tree.body, 0)
    except ZeroDivisionError as exc:
        raise ToolError("division by zero") from exc
    except OverflowError as exc:
        raise ToolError("the result is too large") from exc
    except (ValueError, TypeError) as exc:
        raise ToolError(f"math error: {exc}") from exc


class CalculatorTool:
    """The `calculator` built-in."""

    name = "calculator"
    description = (
        "Evaluate an arithmetic expression. Supports numbers, + - * / // % ** "
        "and parentheses, the constants pi, e and tau, and the functions "
        + ", ".join(_FUNCTIONS)
        + "."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_EXPRESSION_CHARS,
                "description": "e.g. (2 + 3) * sqrt(16) / 4",
            }
        },
        "required": ["expression"],
        "additionalProperties": False,
    }

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        """Raises: ToolError for anything that is not a safe, finite arithmetic expression."""
        expression = str(arguments["expression"])
        return {"expression": expression, "result": evaluate(expression)}


calculator = register_tool(CalculatorTool())
