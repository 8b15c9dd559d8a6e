"""Agents, their runs and conversations."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any

from codexos._core import compact, new_idempotency_key
from codexos._resource import AsyncResource
from codexos.pagination import AsyncPaginator
from codexos.types import Agent, AgentVersion, Conversation, Event, Message, Run, RunDetail


class AsyncAgents(AsyncResource):
    async def create(
        self,
        name: str,
        *,
        description: str | None = None,
        type: str | None = None,
        instructions: str | None = None,
        model: dict[str, Any] | None = None,
        tools: list[Any] | None = None,
        knowledge_base_ids: list[str] | None = None,
        variables: dict[str, Any] | None = None,
        max_steps: int | None = None,
        **extra: Any,
    ) -> Agent:
        body = compact(
            name=name,
            description=description,
            type=type,
            instructions=instructions,
            model=model,
            tools=tools,
            knowledge_base_ids=knowledge_base_ids,
            variables=variables,
            max_steps=max_steps,
            **extra,
        )
        return await self._client._call(Agent, "POST", "/agents", json_body=body)

    def list(
        self, *, type: str | None = None, search: str | None = None, limit: int | None = None
    ) -> AsyncPaginator[Agent]:
        return self._client._list(Agent, "/agents", compact(type=type, search=search, limit=limit))

    async def retrieve(self, agent_id: str) -> Agent:
        return await self._client._call(Agent, "GET", f"/agents/{agent_id}")

    async def update(self, agent_id: str, **fields: Any) -> Agent:
        return await self._client._call(Agent, "PATCH", f"/agents/{agent_id}", json_body=fields)

    async def delete(self, agent_id: str) -> None:
        await self._client._call_none("DELETE", f"/agents/{agent_id}")

    async def duplicate(self, agent_id: str) -> Agent:
        return await self._client._call(Agent, "POST", f"/agents/{agent_id}/duplicate")

    async def versions(self, agent_id: str) -> builtins.list[AgentVersion]:
        """Every saved version of the agent's definition, newest first."""
        return await self._client._call_list(AgentVersion, "GET", f"/agents/{agent_id}/versions")

    async def retrieve_version(self, agent_id: str, version: int) -> AgentVersion:
        path = f"/agents/{agent_id}/versions/{version}"
        return await self._client._call(AgentVersion, "GET", path)

    async def execute(
        self,
        agent_id: str,
        input_data: str | dict[str, Any],
        *,
        conversation_id: str | None = None,
        variables: dict[str, Any] | None = None,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> Run:
        """Run the agent: the finished run, or with `background=True` the queued run.
        An Idempotency-Key (generated unless given) makes retries safe."""
        body = compact(input_data=input_data, conversation_id=conversation_id, variables=variables)
        if background:
            body["async"] = True
        path = f"/agents/{agent_id}/execute"
        return await self._client._call_idempotent(Run, path, idempotency_key, body)

    def stream(
        self,
        agent_id: str,
        input_data: str | dict[str, Any],
        *,
        conversation_id: str | None = None,
        variables: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> AsyncIterator[Event]:
        """Run the agent and iterate over its events (`token`, `run.succeeded`, ...)."""
        body = compact(input_data=input_data, conversation_id=conversation_id, variables=variables)
        body["stream"] = True
        return self._client._stream(
            "POST",
            f"/agents/{agent_id}/execute",
            json_body=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )

    def runs(
        self, agent_id: str, *, status: str | None = None, limit: int | None = None
    ) -> AsyncPaginator[Run]:
        params = compact(agent_id=agent_id, status=status, limit=limit)
        return self._client._list(Run, "/runs", params)


class AsyncRuns(AsyncResource):
    async def retrieve(self, run_id: str) -> RunDetail:
        return await self._client._call(RunDetail, "GET", f"/runs/{run_id}")

    def list(
        self,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        conversation_id: str | None = None,
        limit: int | None = None,
    ) -> AsyncPaginator[Run]:
        params = compact(
            agent_id=agent_id, status=status, conversation_id=conversation_id, limit=limit
        )
        return self._client._list(Run, "/runs", params)

    async def cancel(self, run_id: str) -> Run:
        return await self._client._call(Run, "POST", f"/runs/{run_id}/cancel")

    def events(self, run_id: str, *, after_seq: int | None = None) -> AsyncIterator[Event]:
        """The run's events from the start (or after `after_seq`) until it ends."""
        params = compact(after_seq=after_seq)
        return self._client._stream("GET", f"/runs/{run_id}/events", params=params)


class AsyncConversations(AsyncResource):
    async def create(self, agent_id: str, *, title: str | None = None) -> Conversation:
        path = f"/agents/{agent_id}/conversations"
        return await self._client._call(Conversation, "POST", path, json_body=compact(title=title))

    def list(self, agent_id: str, *, limit: int | None = None) -> AsyncPaginator[Conversation]:
        path = f"/agents/{agent_id}/conversations"
        return self._client._list(Conversation, path, compact(limit=limit))

    async def retrieve(self, conversation_id: str) -> Conversation:
        return await self._client._call(Conversation, "GET", f"/conversations/{conversation_id}")

    async def delete(self, conversation_id: str) -> None:
        await self._client._call_none("DELETE", f"/conversations/{conversation_id}")

    def messages(
        self, conversation_id: str, *, limit: int | None = None
    ) -> AsyncPaginator[Message]:
        path = f"/conversations/{conversation_id}/messages"
        return self._client._list(Message, path, compact(limit=limit))

    async def send(
        self, conversation_id: str, content: str, *, variables: dict[str, Any] | None = None
    ) -> Run:
        """Send a user message; returns the agent's finished run (its reply in `output`)."""
        body = compact(content=content, variables=variables)
        path = f"/conversations/{conversation_id}/messages"
        return await self._client._call(Run, "POST", path, json_body=body)
