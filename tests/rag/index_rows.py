"""Rows for index and search tests, written straight to the database: a user, a workspace,
knowledge bases, documents and chunks (with their index entries), and row counts of the
index-owned tables."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, text

from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.rag.index.port import VectorIndex
from codexos_server.rag.models import Chunk, Document, KnowledgeBase
from codexos_server.users.models import User
from codexos_server.workspaces.models import Workspace

DIMS = 384


def unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def random_unit(rng: random.Random, dims: int = DIMS) -> list[float]:
    return unit([rng.gauss(0, 1) for _ in range(dims)])


def near(rng: random.Random, base: Sequence[float], noise: float) -> list[float]:
    """A unit vector near `base` (cosine falls as `noise` grows)."""
    return unit([x + rng.gauss(0, noise / math.sqrt(len(base))) for x in base])


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def make_workspace(db: Database) -> str:
    async with db.transaction() as session:
        user = User(email=f"rag-{uuid.uuid4().hex[:8]}@example.com", name="RAG")
        session.add(user)
        await session.flush()
        workspace = Workspace(name="RAG tests", owner_id=user.id)
        session.add(workspace)
        await session.flush()
        return workspace.id


async def make_kb(db: Database, workspace_id: str, dims: int = DIMS) -> str:
    async with db.transaction() as session:
        kb = KnowledgeBase(
            workspace_id=workspace_id,
            name="kb",
            embedding_provider="local",
            embedding_model="all-MiniLM-L6-v2",
            embedding_dimensions=dims,
            chunking={},
            retrieval={},
        )
        session.add(kb)
        await session.flush()
        return kb.id


async def add_document(
    db: Database,
    index: VectorIndex,
    kb_id: str,
    texts: Sequence[str],
    vectors: Sequence[Sequence[float]],
    *,
    name: str = "doc.txt",
    tags: Sequence[str] = (),
    metadata: dict[str, Any] | None = None,
    pages: Sequence[int | None] | None = None,
    headings: Sequence[Sequence[str]] | None = None,
    dims: int = DIMS,
) -> tuple[str, list[str]]:
    """A document with one chunk per text, inserted and indexed the way ingestion does it
    (chunks, then `index.add` in the same transaction). Returns (document id, chunk ids)."""
    async with db.transaction() as session:
        document = Document(
            knowledge_base_id=kb_id,
            workspace_id=(await session.get_one(KnowledgeBase, kb_id)).workspace_id,
            name=name,
            kind="txt",
            source="text",
            size_bytes=sum(len(t) for t in texts),
            content_hash=uuid.uuid4().hex,
            blob_key=uuid.uuid4().hex,
            status="indexed",
            chunk_count=len(texts),
            tags=list(tags),
            metadata_=dict(metadata or {}),
        )
        session.add(document)
        await session.flush()
        document_id = document.id
    chunk_ids = [str(uuid.uuid4()) for _ in texts]
    now = utcnow()
    rows = [
        {
            "id": chunk_id,
            "knowledge_base_id": kb_id,
            "document_id": document_id,
            "position": position,
            "text": chunk_text,
            "token_count": len(chunk_text.split()),
            "heading_path": list(headings[position]) if headings else [],
            "page": pages[position] if pages else None,
            "created_at": now,
            "updated_at": now,
        }
        for position, (chunk_id, chunk_text) in enumerate(zip(chunk_ids, texts, strict=True))
    ]
    async with db.write_connection() as conn:
        if rows:
            await conn.execute(insert(Chunk), rows)
        await index.add(conn, kb_id, dims, chunk_ids, vectors, texts)
    return document_id, chunk_ids


async def index_counts(db: Database, document_id: str | None = None) -> dict[str, int]:
    """Rows in the index-owned tables (all of them, or one document's). On SQLite the FTS
    index is also checked against its content table, and its own per-row table counted."""
    where = "" if document_id is None else " WHERE document_id = :doc"
    params = {} if document_id is None else {"doc": document_id}
    async with db.read_connection() as conn:

        async def count(table: str, condition: str = where) -> int:
            result = await conn.execute(text(f"SELECT count(*) FROM {table}{condition}"), params)
            return int(result.scalar_one())

        counts = {"vectors": await count(f"rag_vectors_{DIMS}")}
        if not db.is_sqlite:
            counts["fts"] = await count("rag_fts")
            return counts
        await conn.execute(
            text("INSERT INTO rag_fts (rag_fts, rank) VALUES ('integrity-check', 1)")
        )
        counts["entries"] = await count("rag_index_entries")
        if document_id is None:  # FTS5's own table: one row per indexed row
            counts["fts"] = await count("rag_fts_docsize", "")
        return counts
