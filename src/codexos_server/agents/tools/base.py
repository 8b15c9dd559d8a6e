"""The tool interface, the registry of built-ins, and argument validation.

A tool gets validated arguments and returns JSON-able data. Expected failures raise
ToolError; the agent loop hands any failure back to the model as an observation, so a bad
tool call never crashes a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import jsonschema

from codexos_server.llm.types import ToolSpec


class ToolError(Exception):
    """An expected tool failure, reported to the model as the observation."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool invocation knows about the run calling it."""

    workspace_id: str
    user_id: str | None
    run_id: str
    depth: int = 0  # how many agent_call levels above this run
    config: dict[str, Any] = field(default_factory=dict)  # the agent's settings for this tool
    knowledge_base_ids: tuple[str, ...] = ()  # the calling agent's knowledge bases
    services: Any = field(default=None, repr=False)  # the app's Container


class Tool(Protocol):
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        """Run the tool. Raises: ToolError."""
        ...


# name -> factory(settings-derived options) -> Tool. Built-ins register on import.
TOOLS: dict[str, Tool] = {}


def register_tool(tool: Tool) -> Tool:
    TOOLS[tool.name] = tool
    return tool


def spec_of(tool: Tool) -> ToolSpec:
    return ToolSpec(tool.name, tool.description, tool.parameters)


def validate_arguments(schema: dict[str, Any], arguments: Any) -> dict[str, Any]:
    """Raises: ToolError describing the first problems with the arguments."""
    if not isinstance(arguments, dict):
        raise ToolError("arguments must be a JSON object")
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
    if problems:
        details = "; ".join(
            f"{'/'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in problems[:5]
        )
        raise ToolError(f"invalid arguments: {details}")
    return arguments
