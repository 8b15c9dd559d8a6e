"""The `bench_sleep` tool of the workflow benchmark: a node's own work, I/O-bound like a model
or HTTP call (loaded in workers with CODEXOS_JOB_MODULES=bench.workflow_kinds)."""

from __future__ import annotations

import asyncio
from typing import Any

from codexos_server.agents.tools.base import ToolContext, register_tool


class BenchSleep:
    name = "bench_sleep"
    description = "Sleeps for `seconds`"
    parameters: dict[str, Any] = {"type": "object", "properties": {"seconds": {"type": "number"}}}

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(float(arguments.get("seconds", 0.05)))
        return {"slept": arguments.get("seconds", 0.05)}


register_tool(BenchSleep())
