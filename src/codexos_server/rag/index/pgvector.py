"""`pgvector`: vectors with an HNSW index and keyword search with PostgreSQL full text
(migration 0005).

Layout. `rag_vectors_<dim>` (chunk_id, knowledge_base_id, document_id, embedding vector(dim))
with an HNSW index (vector_cosine_ops, m=16, ef_construction=64: pgvector's defaults) and
b-trees on the two ids; `rag_fts`
(chunk_id, knowledge_base_id, document_id, tsv tsvector) with a GIN index. Both reference
`rag_chunks` ON DELETE CASCADE, so no delete path leaves orphans.

Semantic search. pgvector 0.6's HNSW scan returns at most `hnsw.ef_search` rows and applies
a WHERE clause *after* the index (no iterative scan before 0.8), so a knowledge base or filter
that matches a small share of a table would get fewer than k rows back. Each query therefore
first estimates how many chunks it may return (the sum of `chunk_count` over the matching
documents, one cheap query that also reads the table's size from `pg_class`), then:

- few candidates (<= `exact_limit`, default 2,000) or a share so small that even
  `ef_search` = 1,000 would not see k of them: exact search (a sort of the candidates'
  distances, through the b-tree on knowledge_base_id or document_id);
- otherwise: the HNSW index with `ef_search` = max(`ef_search`, 2·k / share) (SET LOCAL, so
  it ends with the transaction), the top `ef_search` rows by distance, then the filters; and
  if fewer than k survive, exact search after all.

The estimate only picks the plan: a wrong `chunk_count` costs time, never results.

`ef_search` defaults to 100: at 100,000 embedding-like 384-d vectors recall@10 was 0.965 at
pgvector's default 40, 0.979 at 64, 0.992 at 100 and 0.995 at 160, for a p95 of 5.3, 6.3,
8.1 and 10.0 ms (bench/bench_retrieval.py).

Keyword search: each term becomes `websearch_to_tsquery('english', '"term"')` (a bound
parameter: any user text is safe), the terms OR-ed with `||`; chunks are ranked with
`ts_rank_cd` (cover density; positive, higher is better) and use the GIN index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from codexos_server.rag.index._sql import (
    document_conditions,
    keyword_terms,
    needs_documents,
    websearch_phrase,
)
from codexos_server.rag.index.port import Filters, Hit
from codexos_server.rag.index.tables import vector_table

TEXT_SEARCH_CONFIG = "english"
DEFAULT_EF_SEARCH = 100
MAX_EF_SEARCH = 1000  # pgvector's upper bound
DEFAULT_EXACT_LIMIT = 2000
# The query vector as a text parameter cast on the server (asyncpg has no vector codec).
_QUERY_VECTOR = "CAST(CAST(:q AS text) AS vector)"


def _literal(vector: Sequence[float], dimensions: int) -> str:
    """pgvector's text form; 9 significant digits round-trip a float32."""
    if len(vector) != dimensions:
        raise ValueError(f"vector has {len(vector)} dimensions, expected {dimensions}")
    return "[" + ",".join(f"{x:.9g}" for x in vector) + "]"


def _filter_sql(alias: str, filters: Filters) -> tuple[str, str, dict[str, Any]]:
    """(join, conditions, params) restricting rows of `alias` (which has document_id)."""
    join = ""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if filters.document_ids:
        conditions.append(f"{alias}.document_id = ANY(CAST(:f_ids AS varchar[]))")
        params["f_ids"] = list(filters.document_ids)
    if needs_documents(filters):
        join = f"JOIN rag_documents AS d ON d.id = {alias}.document_id"
        document_sql, document_params = document_conditions("postgresql", filters)
        conditions += document_sql
        params.update(document_params)
    return join, "".join(f" AND {c}" for c in conditions), params


class PgVectorIndex:
    """VectorIndex on pgvector and PostgreSQL full text; see the module docstring."""

    name = "pgvector"

    def __init__(
        self, ef_search: int = DEFAULT_EF_SEARCH, exact_limit: int = DEFAULT_EXACT_LIMIT
    ) -> None:
        self.ef_search = ef_search
        self.exact_limit = exact_limit

    async def add(
        self,
        conn: AsyncConnection,
        kb_id: str,
        dimensions: int,
        chunk_ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        texts: Sequence[str],
    ) -> None:
        """Index chunks already in rag_chunks (same transaction), each once.

        Raises: ValueError if the lengths disagree or a chunk is not in this knowledge base.
        """
        if not (len(chunk_ids) == len(vectors) == len(texts)):
            raise ValueError("chunk_ids, vectors and texts must have the same length")
        if not chunk_ids:
            return
        table = vector_table(dimensions)
        params = {
            "kb": kb_id,
            "ids": list(chunk_ids),
            "vectors": [_literal(v, dimensions) for v in vectors],
            "texts": list(texts),
        }
        result = await conn.execute(
            text(
                f"INSERT INTO {table} (chunk_id, knowledge_base_id, document_id, embedding) "  # noqa: S608
                "SELECT c.id, c.knowledge_base_id, c.document_id, "
                f"CAST(u.vector AS vector({dimensions})) "
                "FROM unnest(CAST(:ids AS varchar[]), CAST(:vectors AS text[])) "
                "AS u(chunk_id, vector) "
                "JOIN rag_chunks AS c ON c.id = u.chunk_id AND c.knowledge_base_id = :kb"
            ),
            params,
        )
        if result.rowcount != len(chunk_ids):
            raise ValueError(
                f"{len(chunk_ids) - result.rowcount} of {len(chunk_ids)} chunks are not in "
                f"knowledge base {kb_id}"
            )
        await conn.execute(
            text(
                "INSERT INTO rag_fts (chunk_id, knowledge_base_id, document_id, tsv) "  # noqa: S608
                "SELECT c.id, c.knowledge_base_id, c.document_id, "
                f"to_tsvector('{TEXT_SEARCH_CONFIG}', u.text) "
                "FROM unnest(CAST(:ids AS varchar[]), CAST(:texts AS text[])) AS u(chunk_id, text) "
                "JOIN rag_chunks AS c ON c.id = u.chunk_id AND c.knowledge_base_id = :kb"
            ),
            params,
        )

    async def remove_documents(
        self, conn: AsyncConnection, dimensions: int, document_ids: Sequence[str]
    ) -> None:
        """Drop these documents' vectors and keyword rows. Works before or after their chunks
        are deleted (the foreign keys cascade too)."""
        if not document_ids:
            return
        ids = {"ids": list(document_ids)}
        for table in (vector_table(dimensions), "rag_fts"):
            delete = f"DELETE FROM {table} WHERE document_id = ANY(CAST(:ids AS varchar[]))"  # noqa: S608
            await conn.execute(text(delete), ids)

    async def _estimate(
        self, conn: AsyncConnection, table: str, kb_id: str, filters: Filters
    ) -> tuple[int, float]:
        """(chunks the filters allow, rows in the table), both estimates."""
        conditions, params = document_conditions("postgresql", filters)
        if filters.document_ids:
            conditions.append("d.id = ANY(CAST(:f_ids AS varchar[]))")
            params["f_ids"] = list(filters.document_ids)
        where = "".join(f" AND {c}" for c in conditions)
        result = await conn.execute(
            text(
                "SELECT (SELECT coalesce(sum(d.chunk_count), 0) FROM rag_documents AS d "  # noqa: S608
                f"WHERE d.knowledge_base_id = :kb{where}), "
                "(SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass))"
            ),
            {"kb": kb_id, "table": table, **params},
        )
        candidates, total = result.one()
        return int(candidates or 0), float(total or 0)

    async def _exact(
        self, conn: AsyncConnection, table: str, params: dict[str, Any], filters: Filters
    ) -> list[Hit]:
        join, conditions, filter_params = _filter_sql("v", filters)
        # Ordering by `score` (1 - distance), not by the distance operator itself, keeps the
        # planner off the HNSW index: this is a sort of every matching row.
        result = await conn.execute(
            text(
                f"SELECT v.chunk_id, 1 - (v.embedding <=> {_QUERY_VECTOR}) AS score "  # noqa: S608
                f"FROM {table} AS v {join} WHERE v.knowledge_base_id = :kb{conditions} "
                "ORDER BY score DESC, v.chunk_id LIMIT :k"
            ),
            {**params, **filter_params},
        )
        return [Hit(chunk_id, float(score)) for chunk_id, score in result]

    async def _hnsw(
        self,
        conn: AsyncConnection,
        table: str,
        params: dict[str, Any],
        filters: Filters,
        ef_search: int,
    ) -> list[Hit]:
        await conn.execute(
            text("SELECT set_config('hnsw.ef_search', :ef, true)"), {"ef": str(ef_search)}
        )
        join, conditions, filter_params = _filter_sql("h", filters)
        # The LIMIT keeps the filters out of the subquery: it is a pure index scan.
        result = await conn.execute(
            text(
                "SELECT h.chunk_id, 1 - h.distance AS score FROM ("  # noqa: S608
                "SELECT v.chunk_id, v.knowledge_base_id, v.document_id, "
                f"v.embedding <=> {_QUERY_VECTOR} AS distance "
                f"FROM {table} AS v ORDER BY v.embedding <=> {_QUERY_VECTOR} LIMIT :ef"
                f") AS h {join} WHERE h.knowledge_base_id = :kb{conditions} "
                "ORDER BY h.distance, h.chunk_id LIMIT :k"
            ),
            {**params, **filter_params, "ef": ef_search},
        )
        return [Hit(chunk_id, float(score)) for chunk_id, score in result]

    async def semantic(
        self,
        conn: AsyncConnection,
        kb_id: str,
        dimensions: int,
        vector: Sequence[float],
        k: int,
        filters: Filters,
    ) -> list[Hit]:
        """The k nearest chunks by cosine similarity (HNSW, or exact when few match)."""
        table = vector_table(dimensions)
        params: dict[str, Any] = {"q": _literal(vector, dimensions), "kb": kb_id, "k": k}
        if k <= 0:
            return []
        candidates, total = await self._estimate(conn, table, kb_id, filters)
        share = min(1.0, candidates / total) if total > 0 and candidates > 0 else 1.0
        ef_search = max(self.ef_search, math.ceil(2 * k / share))
        if candidates <= self.exact_limit or ef_search > MAX_EF_SEARCH:
            return await self._exact(conn, table, params, filters)
        hits = await self._hnsw(conn, table, params, filters, ef_search)
        if len(hits) < k:
            return await self._exact(conn, table, params, filters)
        return hits

    async def keyword(
        self, conn: AsyncConnection, kb_id: str, query: str, k: int, filters: Filters
    ) -> list[Hit]:
        """The k best full-text matches of the query's terms; no terms, no hits."""
        terms = keyword_terms(query)
        if not terms or k <= 0:
            return []
        params: dict[str, Any] = {"kb": kb_id, "k": k}
        parts = []
        for i, term in enumerate(terms):
            params[f"t{i}"] = websearch_phrase(term)
            parts.append(f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', :t{i})")
        tsquery = "(" + " || ".join(parts) + ")"
        join, conditions, filter_params = _filter_sql("f", filters)
        result = await conn.execute(
            text(
                f"SELECT f.chunk_id, ts_rank_cd(f.tsv, {tsquery}) AS score FROM rag_fts AS f "  # noqa: S608
                f"{join} WHERE f.tsv @@ {tsquery} AND f.knowledge_base_id = :kb{conditions} "
                "ORDER BY score DESC, f.chunk_id LIMIT :k"
            ),
            {**params, **filter_params},
        )
        return [Hit(chunk_id, float(score)) for chunk_id, score in result]
