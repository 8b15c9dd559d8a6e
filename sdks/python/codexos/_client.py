"""`CodexOS` and `AsyncCodexOS`: the same resource tree over httpx, sync or async.

Everything but sending and sleeping lives in `_core.BaseClient`; the resources are written
once (async, in `_async_resources/`) and generated for sync (`_sync_resources/`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import TypeAdapter

from codexos import _async_resources as ar
from codexos import _sync_resources as sr
from codexos._core import (
    DEFAULT_MAX_RETRIES,
    BaseClient,
    M,
    RequestOptions,
    backoff_delay,
    new_idempotency_key,
    parse,
    should_retry,
    should_retry_transport,
)
from codexos.pagination import AsyncPaginator, Paginator
from codexos.realtime import Realtime
from codexos.streaming import aiter_events, iter_events
from codexos.types import Event, TokenPair


class CodexOS(BaseClient):
    """Synchronous client. `CodexOS(api_key=..., base_url=...)` or `CodexOS.login(...)`."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        workspace_id: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            workspace_id=workspace_id,
            default_headers=default_headers,
        )
        self._http = http_client or httpx.Client(timeout=self.timeout)
        self.auth = sr.Auth(self)
        self.users = sr.Users(self)
        self.api_keys = sr.ApiKeys(self)
        self.workspaces = sr.Workspaces(self)
        self.agents = sr.Agents(self)
        self.runs = sr.Runs(self)
        self.conversations = sr.Conversations(self)
        self.workflows = sr.Workflows(self)
        self.knowledge_bases = sr.KnowledgeBases(self)
        self.marketplace = sr.Marketplace(self)
        self.billing = sr.Billing(self)
        self.monitoring = sr.Monitoring(self)
        self.jobs = sr.Jobs(self)
        self.oauth_apps = sr.OAuthApps(self)
        self.tools = sr.Tools(self)
        self.models = sr.Models(self)
        self.providers = sr.Providers(self)
        self.realtime = Realtime(self)

    @classmethod
    def login(cls, email: str, password: str, **kwargs: Any) -> Self:
        """A client signed in with email and password; it refreshes its token on expiry."""
        client = cls(**kwargs)
        client.auth.login(email, password)
        return client

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _refresh(self) -> TokenPair:
        body = {"refresh_token": self.tokens.refresh_token}
        opts = RequestOptions("POST", "/auth/refresh", json_body=body, authenticated=False)
        pair = parse(TokenPair, self._request(opts))
        self._store_tokens(pair.model_dump())
        return pair

    def _request(self, opts: RequestOptions, *, stream: bool = False) -> httpx.Response:
        attempt, refreshed = 0, False
        while True:
            request = self._build_request(self._http, opts)
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries or not should_retry_transport(exc, opts):
                    raise self._transport_error(exc, request) from exc
                time.sleep(backoff_delay(attempt, None))
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if stream:
                response.read()
                response.close()
            if not refreshed and self._needs_refresh(opts, response):
                refreshed = True
                self._refresh()
                continue
            if should_retry(response, opts) and attempt < self.max_retries:
                time.sleep(backoff_delay(attempt, response))
                attempt += 1
                continue
            self._raise_for_status(response)

    def _call(self, model: type[M], method: str, path: str, **opts: Any) -> M:
        return parse(model, self._request(RequestOptions(method, path, **opts)))

    def _call_list(self, model: type[M], method: str, path: str, **opts: Any) -> list[M]:
        response = self._request(RequestOptions(method, path, **opts))
        return TypeAdapter(list[model]).validate_json(response.content)  # type: ignore[valid-type]

    def _call_none(self, method: str, path: str, **opts: Any) -> None:
        self._request(RequestOptions(method, path, **opts))

    def _call_idempotent(
        self, model: type[M], path: str, key: str | None, json_body: Any = None
    ) -> M:
        opts = RequestOptions(
            "POST", path, json_body=json_body, idempotency_key=key or new_idempotency_key()
        )
        return parse(model, self._request(opts))

    def _list(self, model: type[M], path: str, params: Mapping[str, Any]) -> Paginator[M]:
        def fetch(query: dict[str, Any]) -> httpx.Response:
            return self._request(RequestOptions("GET", path, params=query))

        return Paginator(fetch, model, params)

    def _stream(self, method: str, path: str, **opts: Any) -> Iterator[Event]:
        headers = {"Accept": "text/event-stream"}
        response = self._request(RequestOptions(method, path, headers=headers, **opts), stream=True)
        try:
            yield from iter_events(response.iter_lines())
        finally:
            response.close()


class AsyncCodexOS(BaseClient):
    """Asynchronous client with the same resources as `CodexOS`; methods are awaited, lists
    and streams are iterated with `async for`."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        workspace_id: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            workspace_id=workspace_id,
            default_headers=default_headers,
        )
        self._http = http_client or httpx.AsyncClient(timeout=self.timeout)
        self.auth = ar.AsyncAuth(self)
        self.users = ar.AsyncUsers(self)
        self.api_keys = ar.AsyncApiKeys(self)
        self.workspaces = ar.AsyncWorkspaces(self)
        self.agents = ar.AsyncAgents(self)
        self.runs = ar.AsyncRuns(self)
        self.conversations = ar.AsyncConversations(self)
        self.workflows = ar.AsyncWorkflows(self)
        self.knowledge_bases = ar.AsyncKnowledgeBases(self)
        self.marketplace = ar.AsyncMarketplace(self)
        self.billing = ar.AsyncBilling(self)
        self.monitoring = ar.AsyncMonitoring(self)
        self.jobs = ar.AsyncJobs(self)
        self.oauth_apps = ar.AsyncOAuthApps(self)
        self.tools = ar.AsyncTools(self)
        self.models = ar.AsyncModels(self)
        self.providers = ar.AsyncProviders(self)
        self.realtime = Realtime(self)

    @classmethod
    async def login(cls, email: str, password: str, **kwargs: Any) -> Self:
        """A client signed in with email and password; it refreshes its token on expiry."""
        client = cls(**kwargs)
        await client.auth.login(email, password)
        return client

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _refresh(self) -> TokenPair:
        body = {"refresh_token": self.tokens.refresh_token}
        opts = RequestOptions("POST", "/auth/refresh", json_body=body, authenticated=False)
        pair = parse(TokenPair, await self._request(opts))
        self._store_tokens(pair.model_dump())
        return pair

    async def _request(self, opts: RequestOptions, *, stream: bool = False) -> httpx.Response:
        attempt, refreshed = 0, False
        while True:
            request = self._build_request(self._http, opts)
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries or not should_retry_transport(exc, opts):
                    raise self._transport_error(exc, request) from exc
                await asyncio.sleep(backoff_delay(attempt, None))
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if stream:
                await response.aread()
                await response.aclose()
            if not refreshed and self._needs_refresh(opts, response):
                refreshed = True
                await self._refresh()
                continue
            if should_retry(response, opts) and attempt < self.max_retries:
                await asyncio.sleep(backoff_delay(attempt, response))
                attempt += 1
                continue
            self._raise_for_status(response)

    async def _call(self, model: type[M], method: str, path: str, **opts: Any) -> M:
        return parse(model, await self._request(RequestOptions(method, path, **opts)))

    async def _call_list(self, model: type[M], method: str, path: str, **opts: Any) -> list[M]:
        response = await self._request(RequestOptions(method, path, **opts))
        return TypeAdapter(list[model]).validate_json(response.content)  # type: ignore[valid-type]

    async def _call_none(self, method: str, path: str, **opts: Any) -> None:
        await self._request(RequestOptions(method, path, **opts))

    async def _call_idempotent(
        self, model: type[M], path: str, key: str | None, json_body: Any = None
    ) -> M:
        opts = RequestOptions(
            "POST", path, json_body=json_body, idempotency_key=key or new_idempotency_key()
        )
        return parse(model, await self._request(opts))

    def _list(self, model: type[M], path: str, params: Mapping[str, Any]) -> AsyncPaginator[M]:
        async def fetch(query: dict[str, Any]) -> httpx.Response:
            return await self._request(RequestOptions("GET", path, params=query))

        return AsyncPaginator(fetch, model, params)

    async def _stream(self, method: str, path: str, **opts: Any) -> AsyncIterator[Event]:
        headers = {"Accept": "text/event-stream"}
        request = RequestOptions(method, path, headers=headers, **opts)
        response = await self._request(request, stream=True)
        try:
            async for event in aiter_events(response.aiter_lines()):
                yield event
        finally:
            await response.aclose()
