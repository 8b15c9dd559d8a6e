"""Tools (built-in and custom HTTP tools), chat models and provider configurations."""

from __future__ import annotations

import builtins
from typing import Any

from codexos._core import compact
from codexos._resource import AsyncResource
from codexos.pagination import AsyncPaginator
from codexos.types import CustomTool, ModelInfo, Provider, ToolInfo


class AsyncTools(AsyncResource):
    async def list(self) -> builtins.list[ToolInfo]:
        """The tools agents can use: the built-ins and this workspace's custom tools."""
        return await self._client._call_list(ToolInfo, "GET", "/tools")

    async def list_custom(self) -> builtins.list[CustomTool]:
        return await self._client._call_list(CustomTool, "GET", "/tools/custom")

    async def create_custom(
        self,
        name: str,
        url_template: str,
        parameters: dict[str, Any],
        *,
        method: str | None = None,
        description: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> CustomTool:
        """An HTTP tool: the model fills `parameters`, the server calls `url_template`."""
        body = compact(
            name=name,
            url_template=url_template,
            parameters=parameters,
            method=method,
            description=description,
            headers=headers,
        )
        return await self._client._call(CustomTool, "POST", "/tools/custom", json_body=body)

    async def delete_custom(self, tool_id: str) -> None:
        await self._client._call_none("DELETE", f"/tools/custom/{tool_id}")


class AsyncModels(AsyncResource):
    async def list(self) -> builtins.list[ModelInfo]:
        """The chat models the server and this workspace's providers offer."""
        return await self._client._call_list(ModelInfo, "GET", "/models")


class AsyncProviders(AsyncResource):
    async def create(self, name: str, *, kind: str | None = None, **fields: Any) -> Provider:
        """A model provider configuration (`base_url`, `api_key`, `default_model`, `models`,
        `timeout_seconds`, `max_retries`); the API key is stored encrypted, never returned."""
        body = compact(name=name, kind=kind, **fields)
        return await self._client._call(Provider, "POST", "/providers", json_body=body)

    def list(self, *, limit: int | None = None) -> AsyncPaginator[Provider]:
        return self._client._list(Provider, "/providers", compact(limit=limit))

    async def retrieve(self, provider_id: str) -> Provider:
        return await self._client._call(Provider, "GET", f"/providers/{provider_id}")

    async def update(self, provider_id: str, **fields: Any) -> Provider:
        path = f"/providers/{provider_id}"
        return await self._client._call(Provider, "PATCH", path, json_body=fields)

    async def delete(self, provider_id: str) -> None:
        await self._client._call_none("DELETE", f"/providers/{provider_id}")
