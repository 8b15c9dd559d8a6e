"""Cursor pagination: `?limit=&cursor=` → `{"items": [...], "next_cursor": str | null}`.

Cursors are opaque keyset positions (created_at, id), newest first, so pages stay stable
while rows are inserted.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from codexos_server.errors import ValidationFailed

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int = 20
    cursor: str | None = None


async def _page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (1-100)")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageParamsDep = Annotated[PageParams, Depends(_page_params)]


def encode_cursor(key: Any, row_id: str) -> str:
    value = key.isoformat() if isinstance(key, datetime) else key
    raw = json.dumps([value, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, as_datetime: bool = True) -> tuple[Any, str]:
    """Raises: ValidationFailed for a cursor this server did not produce."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(row_id, str):
            raise TypeError(row_id)
        if as_datetime:
            return datetime.fromisoformat(key), row_id
        if not isinstance(key, int | float | str):
            raise TypeError(key)
        return key, row_id
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            "Invalid cursor", [{"field": "cursor", "message": "is not a cursor from this API"}]
        ) from exc


async def paginate(
    session: AsyncSession,
    stmt: Select[*tuple[Any, ...]],
    params: PageParams,
    order_col: InstrumentedAttribute[Any],
    id_col: InstrumentedAttribute[str],
) -> tuple[list[Any], str | None]:
    """Run `stmt` one page at a time, by `order_col` descending (newest first, for
    `created_at`); returns the rows and the next cursor."""
    is_datetime = order_col.type.python_type is datetime
    if params.cursor:
        key, row_id = decode_cursor(params.cursor, as_datetime=is_datetime)
        stmt = stmt.where(or_(order_col < key, and_(order_col == key, id_col < row_id)))
    stmt = stmt.order_by(order_col.desc(), id_col.desc()).limit(params.limit + 1)
    rows = list((await session.execute(stmt)).all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1][0]
        next_cursor = encode_cursor(getattr(last, order_col.key), getattr(last, id_col.key))
    return rows, next_cursor
