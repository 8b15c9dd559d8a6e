"""Reading a workflow graph: the sub-graph a run executes, and edge activity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codexos_server.workflows.models import NodeStatus
from codexos_server.workflows.spec import Edge, WorkflowSpec

ERROR_BRANCH = "error"


def subgraph(spec: WorkflowSpec, path: list[str]) -> WorkflowSpec:
    """The graph a run executes: the workflow itself, or (for a `map` item) the sub-graph of
    the map nodes named by `path`, outermost first."""
    graph = spec
    for map_id in path:
        node = graph.node(map_id)
        if node is None:
            raise KeyError(map_id)
        graph = WorkflowSpec.model_validate(node.config.get("graph") or {"nodes": []})
    return graph


def incoming(graph: WorkflowSpec) -> dict[str, list[Edge]]:
    edges: dict[str, list[Edge]] = {n.id: [] for n in graph.nodes}
    for edge in graph.edges:
        edges.setdefault(edge.target, []).append(edge)
    return edges


def edge_state(edge: Edge, source: Mapping[str, Any] | None) -> str:
    """`pending` (source not finished), `active` (the source took this edge's branch) or
    `inactive`."""
    if source is None:
        return "pending"
    status = source["status"]
    if status in (NodeStatus.PENDING, NodeStatus.READY, NodeStatus.RUNNING, NodeStatus.WAITING):
        return "pending"
    branch = source.get("branch")
    if status == NodeStatus.SUCCEEDED and branch != ERROR_BRANCH:
        return "active" if edge.branch == branch else "inactive"
    if status == NodeStatus.FAILED and branch == ERROR_BRANCH:
        return "active" if edge.branch == ERROR_BRANCH else "inactive"
    return "inactive"


def decide(
    node_type: str,
    config: Mapping[str, Any],
    edges: list[Edge],
    states: Mapping[str, Mapping[str, Any]],
) -> str | None:
    """For a pending node: `ready`, `skipped`, or None (still waiting for its inputs).

    A node runs when at least one incoming edge is active and all are settled; a `join` in
    mode `any` runs on the first active edge; a node none of whose edges is active is
    skipped (and its own edges then become inactive, so skipping propagates).
    """
    if not edges:
        return "ready"
    kinds = [edge_state(e, states.get(e.source)) for e in edges]
    if node_type == "join" and config.get("mode") == "any" and "active" in kinds:
        return "ready"
    if "pending" in kinds:
        return None
    return "ready" if "active" in kinds else "skipped"
