"""Auto-paginating iterators over `{"items": [...], "next_cursor": ...}` lists."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def _page(model: type[M], response: httpx.Response) -> tuple[list[M], str | None]:
    body = response.json()
    items = [model.model_validate(item) for item in body.get("items", [])]
    cursor = body.get("next_cursor")
    return items, str(cursor) if cursor else None


def _params(params: Mapping[str, Any], cursor: str | None) -> dict[str, Any]:
    return {**params, "cursor": cursor} if cursor else dict(params)


class Paginator(Generic[M]):
    """`for item in client.agents.list(): ...` fetches pages as it goes."""

    def __init__(
        self,
        fetch: Callable[[dict[str, Any]], httpx.Response],
        model: type[M],
        params: Mapping[str, Any],
    ) -> None:
        self._fetch = fetch
        self._model = model
        self._params = params

    def __iter__(self) -> Iterator[M]:
        cursor: str | None = None
        while True:
            items, cursor = _page(self._model, self._fetch(_params(self._params, cursor)))
            yield from items
            if cursor is None:
                return

    def first_page(self) -> tuple[list[M], str | None]:
        """One page: its items and the cursor of the next page (None at the end)."""
        return _page(self._model, self._fetch(_params(self._params, None)))

    def to_list(self) -> list[M]:
        return list(self)


class AsyncPaginator(Generic[M]):
    """`async for item in client.agents.list(): ...` fetches pages as it goes."""

    def __init__(
        self,
        fetch: Callable[[dict[str, Any]], Awaitable[httpx.Response]],
        model: type[M],
        params: Mapping[str, Any],
    ) -> None:
        self._fetch = fetch
        self._model = model
        self._params = params

    async def __aiter__(self) -> AsyncIterator[M]:
        cursor: str | None = None
        while True:
            items, cursor = _page(self._model, await self._fetch(_params(self._params, cursor)))
            for item in items:
                yield item
            if cursor is None:
                return

    async def first_page(self) -> tuple[list[M], str | None]:
        """One page: its items and the cursor of the next page (None at the end)."""
        return _page(self._model, await self._fetch(_params(self._params, None)))

    async def to_list(self) -> list[M]:
        return [item async for item in self]
