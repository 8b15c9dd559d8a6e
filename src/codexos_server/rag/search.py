"""Retrieval: semantic, keyword or hybrid search over one knowledge base's chunks.

The knowledge base service (and the agents' `knowledge_search` tool through it) calls
`retrieve`; no HTTP here. Scores, per mode — `min_score` applies to the same number:

- `semantic`: cosine similarity of chunk and query embeddings, in [-1, 1] (1 = same
  direction). Comparable across queries and backends.
- `keyword`: the engine's own relevance, positive, higher is better: BM25 on SQLite FTS5,
  `ts_rank_cd` on PostgreSQL. Comparable between the results of one query, not across
  backends (a `min_score` for keyword mode is backend-specific).
- `hybrid`: weighted reciprocal rank fusion of the two ranked lists,

      score(c) = sum over lists L of  w_L / (60 + rank_L(c))      (rank from 1)

  divided by sum(w_L) / 61, so it lies in (0, 1]: 1.0 means first in every list with a
  weight, and a chunk found by one list only scores at most w_L / sum(w). The constant 60 is
  Cormack et al.'s: it damps the head of each list so that agreement between lists counts
  more than the exact position in one. Ranks, not raw scores, are fused, so cosine and BM25
  need no common scale. Each list is fetched `max(3·top_k, 30)` deep.

The query is embedded before a database connection is taken (an embedding can wait behind
ingestion batches); then one connection serves the index queries and the final read of
the chunks and their documents (one query).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from codexos_server.db.database import Database
from codexos_server.rag.embed.port import Embedder
from codexos_server.rag.index.port import Filters, Hit, VectorIndex
from codexos_server.rag.models import Chunk, Document

Mode = Literal["semantic", "keyword", "hybrid"]
MODES: tuple[Mode, ...] = ("semantic", "keyword", "hybrid")
RRF_K = 60
MIN_HYBRID_DEPTH = 30


@dataclass(frozen=True, slots=True)
class Retrieved:
    chunk_id: str
    document_id: str
    document_name: str
    position: int
    page: int | None
    heading_path: list[str]
    text: str
    score: float


def hybrid_depth(top_k: int) -> int:
    """How deep each list is fetched before fusion."""
    return max(3 * top_k, MIN_HYBRID_DEPTH)


def fuse(
    semantic: Sequence[Hit], keyword: Sequence[Hit], semantic_weight: float, keyword_weight: float
) -> list[Hit]:
    """Weighted reciprocal rank fusion, normalized to (0, 1]; best first (ties: chunk id)."""
    lists = [(semantic, semantic_weight), (keyword, keyword_weight)]
    total_weight = sum(weight for _, weight in lists if weight > 0)
    if total_weight <= 0:
        return []
    scores: dict[str, float] = {}
    for hits, weight in lists:
        if weight <= 0:
            continue
        for rank, hit in enumerate(hits, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight / (RRF_K + rank)
    scale = (RRF_K + 1) / total_weight
    fused = [Hit(chunk_id, score * scale) for chunk_id, score in scores.items()]
    fused.sort(key=lambda hit: (-hit.score, hit.chunk_id))
    return fused


async def _hydrate(conn: AsyncConnection, hits: Sequence[Hit]) -> list[Retrieved]:
    """The hits' chunks and document names in one query, in the hits' order; a chunk deleted
    meanwhile is left out."""
    if not hits:
        return []
    stmt = (
        select(
            Chunk.id,
            Chunk.document_id,
            Document.name,
            Chunk.position,
            Chunk.page,
            Chunk.heading_path,
            Chunk.text,
        )
        .join(Document, Document.id == Chunk.document_id)
        # Chunks are written batch by batch while a document is embedded: until it is
        # `indexed`, none of them is an answer.
        .where(Chunk.id.in_([hit.chunk_id for hit in hits]), Document.status == "indexed")
    )
    rows = {row.id: row for row in await conn.execute(stmt)}
    return [
        Retrieved(
            chunk_id=hit.chunk_id,
            document_id=row.document_id,
            document_name=row.name,
            position=row.position,
            page=row.page,
            heading_path=list(row.heading_path or []),
            text=row.text,
            score=hit.score,
        )
        for hit in hits
        if (row := rows.get(hit.chunk_id)) is not None
    ]


async def search_hits(
    conn: AsyncConnection,
    index: VectorIndex,
    kb_id: str,
    dimensions: int,
    query: str,
    vector: Sequence[float] | None,
    *,
    mode: Mode,
    top_k: int,
    semantic_weight: float = 1.0,
    keyword_weight: float = 1.0,
    filters: Filters | None = None,
) -> list[Hit]:
    """The ranked hits of a query whose embedding (`vector`) is already known; `vector` may be
    None in keyword mode. No `min_score`, no hydration: `retrieve` adds those."""
    filters = filters or Filters()
    use_semantic = mode == "semantic" or (mode == "hybrid" and semantic_weight > 0)
    use_keyword = mode == "keyword" or (mode == "hybrid" and keyword_weight > 0)
    depth = hybrid_depth(top_k) if mode == "hybrid" else top_k
    semantic: list[Hit] = []
    keyword: list[Hit] = []
    if use_semantic:
        if vector is None:
            raise ValueError("semantic and hybrid search need the query's vector")
        semantic = await index.semantic(conn, kb_id, dimensions, vector, depth, filters)
    if use_keyword:
        keyword = await index.keyword(conn, kb_id, query, depth, filters)
    if mode == "semantic":
        return semantic
    if mode == "keyword":
        return keyword
    return fuse(semantic, keyword, semantic_weight, keyword_weight)


async def retrieve(
    db: Database,
    index: VectorIndex,
    embedder: Embedder,
    kb_id: str,
    dimensions: int,
    query: str,
    *,
    mode: Mode = "hybrid",
    top_k: int = 5,
    semantic_weight: float = 1.0,
    keyword_weight: float = 1.0,
    min_score: float | None = None,
    filters: Filters | None = None,
) -> list[Retrieved]:
    """The `top_k` best chunks of knowledge base `kb_id` for `query`, best first, scored as
    the module docstring says; those below `min_score` are dropped.

    Raises: ValueError for an unknown mode or top_k < 1; the embedder's EmbeddingError or
    ModelUnavailable; ValidationFailed for a malformed metadata filter.
    """
    if mode not in MODES:
        raise ValueError(f"unknown retrieval mode {mode!r}")
    if top_k < 1:
        raise ValueError("top_k must be at least 1")
    vector: list[float] | None = None
    if mode == "semantic" or (mode == "hybrid" and semantic_weight > 0):
        vector = (await embedder.embed([query]))[0]
    async with db.read_connection() as conn:
        hits = await search_hits(
            conn,
            index,
            kb_id,
            dimensions,
            query,
            vector,
            mode=mode,
            top_k=top_k,
            semantic_weight=semantic_weight,
            keyword_weight=keyword_weight,
            filters=filters,
        )
        if min_score is not None:
            hits = [hit for hit in hits if hit.score >= min_score]
        return await _hydrate(conn, hits[:top_k])
