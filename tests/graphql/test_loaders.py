"""Nested lists cost a constant number of SQL statements (DataLoaders)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from codexos_server.container import Container
from tests.graphql.helpers import create_agent, data, execute

QUERY = """query($first: Int!) {
  agents(first: $first) { edges { node { id name runs(last: 5) { id status } } } }
}"""


@contextmanager
def counting(container: Container) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        # The job runner's poll, the scheduler's tick and the request recorder's flush and
        # roll-up share the engine; only the request's own statements count.
        background = (
            "FROM jobs",
            "UPDATE jobs",
            "workflow_schedules",
            "request_log",
            "rollup_state",
            "_rollups",
            # The runs roll-up; the request's own loader reads runs without these filters.
            "min(runs.finished_at)",
            "runs.finished_at >=",
        )
        if not any(t in args[2] for t in background):
            statements.append(args[2])

    engine = container.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _count(http: httpx.AsyncClient, account: Any, container: Container, first: int) -> int:
    with counting(container) as statements:
        got = await data(http, account, QUERY, first=first)
    assert len(got["agents"]["edges"]) == first
    for edge in got["agents"]["edges"]:
        assert 1 <= len(edge["node"]["runs"]) <= 5
    return len(statements)


async def test_agents_with_last_runs_cost_constant_queries(
    client: httpx.AsyncClient, make_account: Any, container: Container
) -> None:
    account = await make_account()
    stranger = await make_account()
    # Another workspace's runs never leak into the batch.
    await execute(client, stranger, await create_agent(client, stranger))
    for i in range(50):
        agent_id = await create_agent(client, account, f"agent-{i}")
        for _ in range(7 if i < 2 else 1):
            await execute(client, account, agent_id)
    # The request recorder's background flush opens write transactions on the same engine
    # (a BEGIN IMMEDIATE each second on SQLite): stopped, so only the query's statements count.
    if container.request_recorder is not None:
        await container.request_recorder.close()
    small = await _count(client, account, container, 5)
    large = await _count(client, account, container, 50)
    assert small == large
    assert large <= 6  # authentication, the page of agents, one batch of runs (+ begin/commit)
    got = await data(client, account, QUERY, first=50)
    by_size = sorted(len(e["node"]["runs"]) for e in got["agents"]["edges"])
    assert by_size == [1] * 48 + [5, 5]
