"""`knowledge_search`: lets a tool-using agent search its knowledge bases itself."""

from __future__ import annotations

from typing import Any

from codexos_server.agents.tools.base import ToolContext, ToolError, register_tool


class KnowledgeSearchTool:
    name = "knowledge_search"
    description = (
        "Search the agent's knowledge bases and return the most relevant passages with "
        "their sources. Arguments: query (what to look for), top_k (how many, default 5)."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 2000},
            "top_k": {"type": "integer", "minimum": 1, "maximum": 20},
        },
        "required": ["query"],
        "additionalProperties": False,
    }

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        kb_ids = list(ctx.config.get("knowledge_base_ids") or ctx.knowledge_base_ids)
        if not kb_ids:
            raise ToolError("this agent has no knowledge bases to search")
        hits = await ctx.services.knowledge_bases.search_many(
            ctx.workspace_id, kb_ids, arguments["query"], arguments.get("top_k") or 5
        )
        return [
            {
                "source": citation,
                "text": h.text,
                "document_id": h.document_id,
                "score": round(h.score, 4),
            }
            for h, citation in hits
        ]


register_tool(KnowledgeSearchTool())
