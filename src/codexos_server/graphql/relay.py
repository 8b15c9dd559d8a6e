"""Relay-style connections over the services' cursor pages.

`first`/`after` map onto `PageParams(limit, cursor)`; each edge's cursor is the same opaque
keyset position REST hands out as `next_cursor`, so a client can switch between the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from codexos_server.errors import ValidationFailed
from codexos_server.pagination import Page, PageParams, encode_cursor

NodeT = TypeVar("NodeT")
MAX_PAGE = 100


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    node: NodeT
    cursor: str


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo


def page_params(first: int, after: str | None) -> PageParams:
    """Raises: ValidationFailed for a page size outside 1..100 (as REST's `limit`)."""
    if not 1 <= first <= MAX_PAGE:
        raise ValidationFailed(
            "Invalid page size",
            [{"field": "first", "message": f"must be between 1 and {MAX_PAGE}"}],
        )
    if after is not None and len(after) > 512:
        raise ValidationFailed("Invalid cursor", [{"field": "after", "message": "is too long"}])
    return PageParams(limit=first, cursor=after)


def by_created(item: Any) -> str:
    return encode_cursor(item.created_at, item.id)


def by_position(item: Any) -> str:
    return encode_cursor(item.position, item.id)


def connection(
    page: Page[Any],
    convert: Callable[[Any], NodeT],
    cursor_of: Callable[[Any], str] = by_created,
) -> Connection[NodeT]:
    """A connection from one service page; `convert` turns an item into its GraphQL type."""
    edges = [Edge(node=convert(item), cursor=cursor_of(item)) for item in page.items]
    end = page.next_cursor or (edges[-1].cursor if edges else None)
    return Connection(
        edges=edges, page_info=PageInfo(has_next_page=page.next_cursor is not None, end_cursor=end)
    )
