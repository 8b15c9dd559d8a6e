"""`sqlite-vec`: vectors and keyword search in the same SQLite database (migration 0005).

Layout. `rag_index_entries` holds one row per indexed chunk — a stable INTEGER id, the ids of
the chunk, its document and knowledge base, the text and the float32 vector. Triggers on it
fill and empty the virtual tables keyed by that id: `rag_fts` (FTS5, external content, porter
over unicode61) and `rag_vectors_<dim>` (vec0, partitioned by knowledge base, `document_id`
as a metadata column, the vector binary-quantized). Its `chunk_id` references `rag_chunks`
ON DELETE CASCADE, so deleting chunks — directly, or through their document or knowledge
base — removes every trace through the same triggers. (The triggers write to vec0, which
needs SQLite's default `trusted_schema=ON`.)

Semantic search is two-stage. vec0 has no ANN index: a query scans its partition. A float
scan of 100,000 384-d vectors takes ~70 ms on the benchmark machine, over the 50 ms budget; a
scan of their binary quantization (48 bytes each) ~15 ms. So the scan ranks by Hamming
distance on the bit vectors, keeps `candidates` (default 160, at least 4·k) and re-ranks those
by exact cosine on the stored float vectors. Up to `candidates` chunks (after filters) the
answer is exact; beyond, recall@10 was 0.967 at 100,000 embedding-like vectors
(bench/bench_retrieval.py) and ~0.98 on 12,000 real MiniLM embeddings. Raise `candidates` for
more recall: the scan costs about 0.1 ms per candidate at 100,000 vectors.

Filters are applied inside the scan, never after it: the knowledge base is the partition
key, and document ids (given, or those whose tags/metadata match, looked up first) are a
metadata-column constraint, so k results come back whenever k chunks match.

Keyword search is FTS5 BM25 over OR-ed quoted terms (`_sql.keyword_terms`); its score is
`-bm25()` (positive, higher is better). BM25's document frequencies span all knowledge bases.

Both queries join with CROSS JOIN, which in SQLite fixes the join order: the virtual table
first. Left to choose, the planner probed FTS5 once per row of the knowledge base (400 ms at
10,000 chunks instead of 2 ms).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from codexos_server.rag.index._sql import (
    document_conditions,
    fts5_query,
    keyword_terms,
    needs_documents,
)
from codexos_server.rag.index.port import Filters, Hit
from codexos_server.rag.index.tables import vector_table

DEFAULT_CANDIDATES = 160
MAX_KNN_K = 4096  # sqlite-vec's limit on k


def _blob(vector: Sequence[float], dimensions: int) -> bytes:
    if len(vector) != dimensions:
        raise ValueError(f"vector has {len(vector)} dimensions, expected {dimensions}")
    return array("f", vector).tobytes()


class SqliteVecIndex:
    """VectorIndex on sqlite-vec and FTS5; see the module docstring for the design."""

    name = "sqlite-vec"

    def __init__(self, candidates: int = DEFAULT_CANDIDATES) -> None:
        self.candidates = candidates

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
        vector_table(dimensions)
        rows = [
            {
                "chunk_id": c,
                "kb": kb_id,
                "dims": dimensions,
                "text": t,
                "embedding": _blob(v, dimensions),
            }
            for c, v, t in zip(chunk_ids, vectors, texts, strict=True)
        ]
        result = await conn.execute(
            text(
                "INSERT INTO rag_index_entries "
                "(chunk_id, knowledge_base_id, document_id, dimensions, text, embedding) "
                "SELECT c.id, c.knowledge_base_id, c.document_id, :dims, :text, :embedding "
                "FROM rag_chunks AS c WHERE c.id = :chunk_id AND c.knowledge_base_id = :kb"
            ),
            rows,
        )
        if result.rowcount != len(rows):
            raise ValueError(
                f"{len(rows) - result.rowcount} of {len(rows)} chunks are not in knowledge "
                f"base {kb_id}"
            )

    async def remove_documents(
        self, conn: AsyncConnection, dimensions: int, document_ids: Sequence[str]
    ) -> None:
        """Drop the index entries of these documents (all sizes; the triggers empty the
        virtual tables). Works before or after their chunks are deleted."""
        if not document_ids:
            return
        await conn.execute(
            text(
                "DELETE FROM rag_index_entries "
                "WHERE document_id IN (SELECT value FROM json_each(:ids))"
            ),
            {"ids": json.dumps(list(document_ids))},
        )

    async def _document_ids(
        self, conn: AsyncConnection, kb_id: str, filters: Filters
    ) -> list[str] | None:
        """The documents the filters allow, or None when every document is allowed."""
        if not needs_documents(filters):
            return list(filters.document_ids) if filters.document_ids else None
        conditions, params = document_conditions("sqlite", filters)
        if filters.document_ids:
            conditions.append("d.id IN (SELECT value FROM json_each(:f_ids))")
            params["f_ids"] = json.dumps(list(filters.document_ids))
        result = await conn.execute(
            text(
                "SELECT d.id FROM rag_documents AS d WHERE d.knowledge_base_id = :kb AND "  # noqa: S608
                + " AND ".join(conditions)
            ),
            {"kb": kb_id, **params},
        )
        return [row[0] for row in result]

    async def semantic(
        self,
        conn: AsyncConnection,
        kb_id: str,
        dimensions: int,
        vector: Sequence[float],
        k: int,
        filters: Filters,
    ) -> list[Hit]:
        """The k nearest chunks by cosine similarity (Hamming scan, exact re-rank)."""
        table = vector_table(dimensions)
        query = _blob(vector, dimensions)
        if k <= 0:
            return []
        documents = await self._document_ids(conn, kb_id, filters)
        if documents is not None and not documents:
            return []
        params: dict[str, Any] = {
            "q": query,
            "kb": kb_id,
            "k": k,
            "c": min(max(self.candidates, 4 * k), MAX_KNN_K),
        }
        document_clause = ""
        if documents is not None:
            document_clause = "AND document_id IN (SELECT value FROM json_each(:documents))"
            params["documents"] = json.dumps(documents)
        result = await conn.execute(
            text(
                f"WITH knn AS (SELECT rowid AS id FROM {table} "  # noqa: S608
                "WHERE embedding MATCH vec_quantize_binary(:q) AND k = :c "
                f"AND knowledge_base_id = :kb {document_clause}) "
                "SELECT e.chunk_id, 1.0 - vec_distance_cosine(e.embedding, :q) AS score "
                "FROM knn CROSS JOIN rag_index_entries AS e ON e.id = knn.id "
                "ORDER BY score DESC, e.id LIMIT :k"
            ),
            params,
        )
        return [Hit(chunk_id, float(score)) for chunk_id, score in result]

    async def keyword(
        self, conn: AsyncConnection, kb_id: str, query: str, k: int, filters: Filters
    ) -> list[Hit]:
        """The k best BM25 matches of the query's terms; no terms, no hits."""
        terms = keyword_terms(query)
        if not terms or k <= 0:
            return []
        params: dict[str, Any] = {"match": fts5_query(terms), "kb": kb_id, "k": k}
        joins = ""
        conditions = ["rag_fts MATCH :match", "e.knowledge_base_id = :kb"]
        if filters.document_ids:
            conditions.append("e.document_id IN (SELECT value FROM json_each(:f_ids))")
            params["f_ids"] = json.dumps(list(filters.document_ids))
        if needs_documents(filters):
            joins = "JOIN rag_documents AS d ON d.id = e.document_id"
            document_sql, document_params = document_conditions("sqlite", filters)
            conditions += document_sql
            params.update(document_params)
        result = await conn.execute(
            text(
                "SELECT e.chunk_id, -bm25(rag_fts) AS score FROM rag_fts "  # noqa: S608
                f"CROSS JOIN rag_index_entries AS e ON e.id = rag_fts.rowid {joins} "
                f"WHERE {' AND '.join(conditions)} ORDER BY score DESC, e.id LIMIT :k"
            ),
            params,
        )
        return [Hit(chunk_id, float(score)) for chunk_id, score in result]
