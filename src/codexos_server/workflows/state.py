"""The vocabulary of the workflow engine: node-status sets, the post-commit `Progress` of a
transaction, the `Continuation` a job carries to its next node, and how a run's inputs and
output are read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.events.bus import workspace_channel
from codexos_server.jobs.service import StagedJob
from codexos_server.workflows.models import RUN_FINISHED, NodeRun, NodeStatus, WorkflowRun
from codexos_server.workflows.spec import WorkflowSpec

NODE_JOB = "workflow.node"
ACTIVE = frozenset({NodeStatus.PENDING, NodeStatus.READY, NodeStatus.RUNNING, NodeStatus.WAITING})
# Pure node types, run inline while settling (see `settling._inline`).
INLINE_TYPES = frozenset({"input", "output", "template", "condition", "switch", "parallel", "join"})
RUNNABLE = frozenset({NodeStatus.READY, NodeStatus.RUNNING, NodeStatus.WAITING})
BUSY = frozenset({NodeStatus.READY.value, NodeStatus.RUNNING.value})
RUN_DONE = frozenset(s.value for s in RUN_FINISHED)
DEFAULT_MAP_CONCURRENCY = 4


def run_channel(run_id: str) -> str:
    return f"workflow_run:{run_id}"


@dataclass
class Progress:
    """What a transaction decided that must happen after it commits: events to publish,
    staged jobs to announce, jobs of cancelled nodes to stop."""

    events: list[tuple[list[str], str, dict[str, Any]]] = field(default_factory=list)
    staged: list[StagedJob] = field(default_factory=list)
    cancel_jobs: list[str] = field(default_factory=list)
    adopted: str | None = None  # the next node, taken by the current job (see `settle`)

    def event(self, run_id: str, kind: str, **data: Any) -> None:
        self.events.append(([run_channel(run_id)], kind, {"run_id": run_id, **data}))

    def run_event(self, run: WorkflowRun, kind: str, **data: Any) -> None:
        """A run-level event, also on the workspace's channel (top-level runs only)."""
        channels = [run_channel(run.id)]
        if not run.parent_run_id:
            channels.append(workspace_channel(run.workspace_id))
        payload = {"run_id": run.id, "workflow_id": run.workflow_id, **data}
        self.events.append((channels, kind, payload))


@dataclass
class Continuation:
    """The next node of a run, already marked running for the current job in the transaction
    that finished its predecessor; the run's state comes along, so it starts without a read."""

    run: WorkflowRun
    rows: dict[str, NodeRun]
    graph: WorkflowSpec
    node_id: str


# Called inside the closing transaction of a top-level run (outbound webhooks stage their
# deliveries there, so a finished run always gets its webhooks).
FinishHook = Callable[[AsyncSession, WorkflowRun, Progress], Awaitable[None]]


class Paused(Exception):
    """An executor paused its node (wait, approval, map); the node stays `waiting`."""


def run_inputs(run: WorkflowRun) -> Any:
    """The workflow's inputs (a map item's child run carries them next to its item)."""
    if run.parent_run_id and isinstance(run.inputs, dict):
        return run.inputs.get("inputs")
    return run.inputs


def run_output(graph: WorkflowSpec, rows: dict[str, NodeRun]) -> Any:
    """One `output` node: its value; several: a dict by node id; none: the outputs of the
    nodes nothing follows."""
    outputs = {k: r.output for k, r in rows.items() if r.status == NodeStatus.SUCCEEDED}
    declared = [n.id for n in graph.nodes if n.type == "output" and n.id in outputs]
    if len(declared) == 1:
        return outputs[declared[0]]
    if declared:
        return {k: outputs[k] for k in declared}
    sources = {e.source for e in graph.edges}
    return {k: v for k, v in outputs.items() if k not in sources}
