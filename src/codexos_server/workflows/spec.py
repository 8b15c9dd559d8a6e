"""The workflow definition format (what users write, export and import).

A workflow is a graph: `nodes` with a `type` and a `config`, and `edges` from a source node
to a target node, optionally on a `branch` of the source (`true`/`false` for `condition`,
a case value or `default` for `switch`, `approved`/`rejected` for `human_approval`, and
`error` for the error branch of any node whose `on_error.action` is `route`).

Values in a node's config may be templates (`"Summarise {{ nodes.research.output }}"`) or,
for `condition`/`switch`/`map.items`, expressions (`"nodes.review.output.score > 7"`),
evaluated in a sandbox with:
  inputs        the run's inputs
  nodes.<id>    {"output": ..., "status": ...} of every finished node
  item, index   inside a `map` sub-graph: the current element and its position
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NodeType = Literal[
    "input",
    "output",
    "agent",
    "llm",
    "tool",
    "knowledge_retrieval",
    "http_request",
    "condition",
    "switch",
    "parallel",
    "join",
    "map",
    "template",
    "wait",
    "human_approval",
]
NODE_TYPES: tuple[str, ...] = NodeType.__args__  # type: ignore[attr-defined]

ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$"


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=1, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0, le=3600, description="Doubles each attempt")


class OnError(BaseModel):
    """What a node's final failure does: fail the run, continue with `fallback` as the
    node's output, or take the node's `error` branch (edges with `branch: "error"`)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["fail", "continue", "route"] = "fail"
    fallback: Any = None


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    type: str = Field(description=f"One of: {', '.join(NODE_TYPES)}")
    name: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_seconds: float | None = Field(default=None, gt=0, le=86_400)
    on_error: OnError = Field(default_factory=OnError)


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=64)
    target: str = Field(max_length=64)
    branch: str | None = Field(default=None, max_length=200)


class WorkflowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nodes: list[Node] = Field(max_length=500)
    edges: list[Edge] = Field(default_factory=list, max_length=2000)

    def node(self, node_id: str) -> Node | None:
        return next((n for n in self.nodes if n.id == node_id), None)
