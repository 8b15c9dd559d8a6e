"""DataLoaders: nested lists cost one SQL query per field, however many parents are listed.

`agents(first: 50) { edges { node { runs(last: 5) { id } } } }` asks for the latest runs of 50
agents; the loader collects the 50 keys and reads them in one statement, ranking each agent's
runs with `ROW_NUMBER() OVER (PARTITION BY agent_id ORDER BY created_at DESC)` (SQLite and
PostgreSQL both have window functions). Every query is confined to the caller's workspace and
checks the caller's role, the same rules the services apply; the GraphQL field checks the scope.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, aliased
from strawberry.dataloader import DataLoader

from codexos_server.agents.models import Conversation, Message, Run
from codexos_server.agents.schemas import MessageOut, RunOut
from codexos_server.auth.principal import Principal
from codexos_server.db.database import Database
from codexos_server.rag.documents import document_out
from codexos_server.rag.models import Document
from codexos_server.rag.schemas import DocumentOut
from codexos_server.workflows.models import NodeRun, WorkflowRun
from codexos_server.workflows.schemas import NodeRunOut, WorkflowRunOut
from codexos_server.workspaces.permissions import Action

T = TypeVar("T")
# (parent id, how many of its latest children)
LatestKey = tuple[str, int]


class Loaders:
    """The DataLoaders of one request; each caches what it read for that request only."""

    def __init__(self, db: Database, principal: Principal) -> None:
        self.db = db
        self.principal = principal
        self.agent_runs = DataLoader[LatestKey, list[RunOut]](
            self._latest_loader(
                Run,
                Run.agent_id,
                Run.created_at,
                [Run.workspace_id == principal.workspace_id],
                RunOut.model_validate,
            )
        )
        self.workflow_runs = DataLoader[LatestKey, list[WorkflowRunOut]](
            self._latest_loader(
                WorkflowRun,
                WorkflowRun.workflow_id,
                WorkflowRun.created_at,
                [
                    WorkflowRun.workspace_id == principal.workspace_id,
                    WorkflowRun.parent_run_id.is_(None),
                ],
                WorkflowRunOut.model_validate,
            )
        )
        self.conversation_messages = DataLoader[LatestKey, list[MessageOut]](
            self._latest_loader(
                Message,
                Message.conversation_id,
                Message.position,
                [
                    Message.conversation_id.in_(
                        select(Conversation.id).where(
                            Conversation.workspace_id == principal.workspace_id
                        )
                    )
                ],
                MessageOut.model_validate,
            )
        )
        self.kb_documents = DataLoader[LatestKey, list[DocumentOut]](
            self._latest_loader(
                Document,
                Document.knowledge_base_id,
                Document.created_at,
                [Document.workspace_id == principal.workspace_id],
                document_out,
            )
        )
        self.run_nodes = DataLoader[str, list[NodeRunOut]](self._load_nodes)

    def _latest_loader(
        self,
        model: Any,
        parent: InstrumentedAttribute[str],
        order: InstrumentedAttribute[Any],
        where: list[ColumnElement[bool]],
        convert: Callable[[Any], T],
    ) -> Callable[[list[LatestKey]], Awaitable[Sequence[list[T]]]]:
        """A batch function answering `(parent_id, n)` keys with each parent's latest `n`
        children, newest first: one statement per distinct `n` (in practice one)."""

        async def load(keys: list[LatestKey]) -> list[list[T]]:
            self.principal.require(Action.READ)
            by_limit: dict[int, set[str]] = defaultdict(set)
            for parent_id, n in keys:
                by_limit[n].add(parent_id)
            found: dict[LatestKey, list[T]] = {}
            async with self.db.read() as session:
                for n, parent_ids in by_limit.items():
                    rank = (
                        func.row_number()
                        .over(partition_by=parent, order_by=(order.desc(), model.id.desc()))
                        .label("rank")
                    )
                    ranked = select(model, rank).where(parent.in_(parent_ids), *where).subquery()
                    row = aliased(model, ranked)
                    stmt = (
                        select(row)
                        .where(ranked.c.rank <= n)
                        .order_by(ranked.c[parent.key], ranked.c.rank)
                    )
                    grouped: dict[str, list[T]] = defaultdict(list)
                    for item in (await session.scalars(stmt)).all():
                        grouped[getattr(item, parent.key)].append(convert(item))
                    for parent_id in parent_ids:
                        found[(parent_id, n)] = grouped.get(parent_id, [])
            return [found[key] for key in keys]

        return load

    async def _load_nodes(self, run_ids: list[str]) -> list[list[NodeRunOut]]:
        """Node states of many workflow runs in one query (in the order they were created)."""
        self.principal.require(Action.READ)
        stmt = (
            select(NodeRun)
            .join(WorkflowRun, WorkflowRun.id == NodeRun.run_id)
            .where(
                NodeRun.run_id.in_(set(run_ids)),
                WorkflowRun.workspace_id == self.principal.workspace_id,
            )
            .order_by(NodeRun.created_at, NodeRun.id)
        )
        grouped: dict[str, list[NodeRunOut]] = defaultdict(list)
        async with self.db.read() as session:
            for node in (await session.scalars(stmt)).all():
                grouped[node.run_id].append(NodeRunOut.model_validate(node))
        return [grouped.get(run_id, []) for run_id in run_ids]
