"""Importing this module registers the built-in tools in `TOOLS`.

`knowledge_search` and `agent_call` need the RAG engine and the agent runtime, so they
register from their own modules; this one holds the self-contained built-ins.
"""

from __future__ import annotations

from codexos_server.agents.tools.calculator import calculator
from codexos_server.agents.tools.clock import current_time
from codexos_server.agents.tools.http_request import http_request

__all__ = ["calculator", "current_time", "http_request"]
