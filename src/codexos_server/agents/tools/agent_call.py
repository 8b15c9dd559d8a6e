"""`agent_call`: ask another agent of the same workspace and use its answer. Nested calls
are limited in depth, so agents calling each other cannot loop forever."""

from __future__ import annotations

from typing import Any

from codexos_server.agents.tools.base import ToolContext, ToolError, register_tool
from codexos_server.errors import NotFound


class AgentCallTool:
    name = "agent_call"
    description = (
        "Ask another agent of this workspace a question and get its answer. "
        "Arguments: agent_id (the agent to call) and input (what to ask it)."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "agent_id": {"type": "string", "minLength": 1, "maxLength": 64},
            "input": {"type": "string", "minLength": 1, "maxLength": 100_000},
        },
        "required": ["agent_id", "input"],
        "additionalProperties": False,
    }

    async def __call__(self, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        services = ctx.services
        limit = services.settings.agent_call_max_depth
        if ctx.depth + 1 > limit:
            raise ToolError(f"agent calls may nest at most {limit} levels deep")
        allowed = ctx.config.get("agent_ids")
        if allowed is not None and arguments["agent_id"] not in allowed:
            raise ToolError("this agent may not call that agent")
        try:
            run = await services.runs.run_child(
                workspace_id=ctx.workspace_id,
                user_id=ctx.user_id,
                agent_id=arguments["agent_id"],
                input_data=arguments["input"],
                parent_run_id=ctx.run_id,
                depth=ctx.depth + 1,
            )
        except NotFound as exc:
            raise ToolError(f"no agent {arguments['agent_id']!r} in this workspace") from exc
        if run.status != "succeeded":
            raise ToolError(
                f"the called agent's run ended {run.status}: {(run.error or {}).get('message', '')}"
            )
        return {"run_id": run.id, "output": run.output}


register_tool(AgentCallTool())
