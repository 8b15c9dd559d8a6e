"""The VectorIndex port: vectors and keyword search over the chunks of knowledge bases.

Chunks themselves (text, document, position, metadata) live in the `rag_chunks` table; an
index adapter keeps what it needs to search them — vectors (sqlite-vec or pgvector) and a
keyword index (FTS5 or PostgreSQL full text) — keyed by chunk id and knowledge base.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

# Dimensions the index has tables for (the migrations create one per size).
SUPPORTED_DIMENSIONS = (384, 768, 1024, 1536)


@dataclass(frozen=True, slots=True)
class Filters:
    document_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # a chunk matches if its document has ALL these tags
    metadata: dict[str, Any] = field(default_factory=dict)  # key: value (equality) or [values] (in)


@dataclass(frozen=True, slots=True)
class Hit:
    chunk_id: str
    score: float  # semantic: cosine similarity in [-1, 1]; keyword: higher is better


class VectorIndex(Protocol):
    async def add(
        self,
        conn: AsyncConnection,
        kb_id: str,
        dimensions: int,
        chunk_ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        texts: Sequence[str],
    ) -> None:
        """Index chunks (already inserted in rag_chunks, same transaction)."""
        ...

    async def remove_documents(
        self, conn: AsyncConnection, dimensions: int, document_ids: Sequence[str]
    ) -> None:
        """Drop the vectors and keyword entries of these documents' chunks."""
        ...

    async def semantic(
        self,
        conn: AsyncConnection,
        kb_id: str,
        dimensions: int,
        vector: Sequence[float],
        k: int,
        filters: Filters,
    ) -> list[Hit]:
        """The k nearest chunks by cosine similarity, best first."""
        ...

    async def keyword(
        self, conn: AsyncConnection, kb_id: str, query: str, k: int, filters: Filters
    ) -> list[Hit]:
        """The k best keyword matches (BM25 / ts_rank), best first. A query with no usable
        terms returns no hits, never an error."""
        ...
