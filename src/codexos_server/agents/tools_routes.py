"""Tool endpoints: the built-ins, and the workspace's own HTTP tools."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from codexos_server.agents.schemas import ToolDefinitionCreate, ToolDefinitionOut, ToolInfo
from codexos_server.agents.tools.base import TOOLS
from codexos_server.agents.tools.custom import ToolDefinitionService
from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.openapi import errors

router = APIRouter(prefix="/tools", tags=["agents"])


async def _tools(request: Request) -> ToolDefinitionService:
    return get_container(request).tool_definitions


ToolServiceDep = Annotated[ToolDefinitionService, Depends(_tools)]
Reader = Annotated[Principal, scoped("agents:read")]
Writer = Annotated[Principal, scoped("agents:write")]


@router.get("", operation_id="tools_list", summary="List the tools agents can use")
async def list_tools(tools: ToolServiceDep, principal: Reader) -> list[ToolInfo]:
    builtins = [
        ToolInfo(name=t.name, description=t.description, parameters=t.parameters, kind="builtin")
        for t in TOOLS.values()
    ]
    custom = [
        ToolInfo(name=t.name, description=t.description, parameters=t.parameters, kind="custom")
        for t in await tools.list(principal)
    ]
    return sorted(builtins, key=lambda t: t.name) + custom


@router.get("/custom", operation_id="tools_custom_list", summary="List the workspace's HTTP tools")
async def list_custom(tools: ToolServiceDep, principal: Reader) -> list[ToolDefinitionOut]:
    return await tools.list(principal)


@router.post(
    "/custom",
    status_code=status.HTTP_201_CREATED,
    operation_id="tools_custom_create",
    summary="Define an HTTP tool",
    responses=errors(403, 409),
)
async def create_custom(
    body: ToolDefinitionCreate, tools: ToolServiceDep, principal: Writer
) -> ToolDefinitionOut:
    """Header values (API keys) are stored encrypted and never returned."""
    return await tools.create(principal, body)


@router.delete(
    "/custom/{tool_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="tools_custom_delete",
    summary="Delete an HTTP tool",
    responses=errors(403, 404),
)
async def delete_custom(tool_id: str, tools: ToolServiceDep, principal: Writer) -> None:
    await tools.delete(principal, tool_id)
