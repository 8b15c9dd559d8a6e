"""Which tools an agent has: built-ins by name, then the workspace's own HTTP tools."""

from __future__ import annotations

from typing import Any

from codexos_server.agents.tools.base import TOOLS, Tool
from codexos_server.agents.tools.custom import ToolDefinitionService


class ToolResolver:
    def __init__(self, definitions: ToolDefinitionService) -> None:
        self.definitions = definitions

    async def for_agent(self, workspace_id: str, refs: list[dict[str, Any]]) -> dict[str, Tool]:
        """The callable tools an agent's tool list names. A name that no longer exists is left
        out: the model only sees (and can only call) what is there."""
        names = [str(ref.get("name")) for ref in refs]
        tools: dict[str, Tool] = {name: TOOLS[name] for name in names if name in TOOLS}
        custom = await self.definitions.load(workspace_id, [n for n in names if n not in TOOLS])
        tools.update(custom)
        return tools

    @staticmethod
    def config_for(refs: list[dict[str, Any]], name: str) -> dict[str, Any]:
        for ref in refs:
            if ref.get("name") == name:
                return dict(ref.get("config") or {})
        return {}
