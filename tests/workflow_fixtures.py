"""A tool with a recorded side effect, for the workflow crash test. Worker processes load this
module with CODEXOS_JOB_MODULES, exactly as a plugin would be loaded.

Every execution is logged in `workflow_node_calls`; the side effect itself goes to
`workflow_effects` keyed by run and node (as a receiver honouring the http_request node's
Idempotency-Key would), so a node re-run after a crash cannot apply its effect twice.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sqlalchemy import text

from codexos_server.agents.tools.base import ToolContext, register_tool

EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS workflow_effects ("
    "run_id VARCHAR(36) NOT NULL, node_id VARCHAR(64) NOT NULL, worker VARCHAR(32) NOT NULL, "
    "PRIMARY KEY (run_id, node_id))",
    "CREATE TABLE IF NOT EXISTS workflow_node_calls ("
    "id SERIAL PRIMARY KEY, run_id VARCHAR(36) NOT NULL, node_id VARCHAR(64) NOT NULL, "
    "worker VARCHAR(32) NOT NULL)",
)


class RecordEffect:
    name = "record_effect"
    description = "Records a side effect for (run, node), then sleeps"
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {"node": {"type": "string"}, "sleep": {"type": "number"}},
        "required": ["node"],
    }

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        values = {"run": ctx.run_id, "node": arguments["node"], "worker": str(os.getpid())}
        async with ctx.services.db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO workflow_node_calls (run_id, node_id, worker) "
                    "VALUES (:run, :node, :worker)"
                ),
                values,
            )
        await asyncio.sleep(float(arguments.get("sleep", 0.0)))
        async with ctx.services.db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO workflow_effects (run_id, node_id, worker) "
                    "VALUES (:run, :node, :worker) ON CONFLICT (run_id, node_id) DO NOTHING"
                ),
                values,
            )
        return {"node": arguments["node"], "worker": os.getpid()}


register_tool(RecordEffect())
