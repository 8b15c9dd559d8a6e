"""The VectorIndex adapters on their real databases (sqlite-vec + FTS5, pgvector + tsvector):
add, semantic and keyword search, filters, removal without orphans, hostile keyword text."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete

from codexos_server.db.database import Database
from codexos_server.errors import ValidationFailed
from codexos_server.rag.index._sql import fts5_query, keyword_terms
from codexos_server.rag.index.pgvector import PgVectorIndex
from codexos_server.rag.index.port import Filters, VectorIndex
from codexos_server.rag.index.registry import VECTOR_INDEXES, index_for
from codexos_server.rag.index.sqlite_vec import SqliteVecIndex
from codexos_server.rag.models import Chunk, Document, KnowledgeBase
from tests.conftest import truncate_all
from tests.rag.index_rows import (
    DIMS,
    add_document,
    cosine,
    index_counts,
    make_kb,
    make_workspace,
    near,
    random_unit,
)

HOSTILE = [
    "",
    "   ",
    '"',
    '""',
    '"unbalanced',
    "AND",
    "OR NOT AND",
    "NOT lamp",
    "lamp AND OR",
    "*",
    "lamp*",
    "^lamp",
    "(",
    "())(",
    "lamp)",
    "NEAR(lamp harbour)",
    "text: lamp",
    "rag_fts:lamp",
    "-lamp",
    "lamp -harbour",
    "'; DROP TABLE rag_chunks; --",
    "\\",
    "a\x00b",
    "😀 emoji",
    "lamp & | ! <-> :*",
    "{lamp}",
    "lamp:1",
    "x" * 5000,
]


@pytest.fixture
async def db(database_url: str, backend: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    if backend == "postgres":
        await truncate_all(database)
    yield database
    await database.dispose()


def exact_order(query: list[float], vectors: dict[str, list[float]]) -> list[str]:
    return sorted(vectors, key=lambda c: -cosine(query, vectors[c]))


def test_registry_maps_dialects_to_adapters() -> None:
    assert set(VECTOR_INDEXES) == {"sqlite-vec", "pgvector"}
    assert isinstance(index_for("sqlite"), SqliteVecIndex)
    assert isinstance(index_for("postgresql"), PgVectorIndex)
    with pytest.raises(ValueError, match="no vector index"):
        index_for("mysql")


def test_keyword_terms_quote_everything() -> None:
    assert keyword_terms('error "paper jam" E-4021 AND') == ["error", "paper jam", "E-4021"]
    assert keyword_terms("how do I reset my password") == ["reset", "password"]
    assert keyword_terms("to be or not") == ["to", "be", "or", "not"]  # nothing else left
    assert keyword_terms('"to be or not" can\'t') == ["to be or not"]
    assert keyword_terms("  * ( ) ") == []
    assert keyword_terms("Lamp lamp LAMP") == ["Lamp"]
    assert fts5_query(['say "hi"', "x"]) == '"say ""hi""" OR "x"'


async def test_semantic_is_nearest_first_within_one_knowledge_base(db: Database) -> None:
    index = index_for(db.dialect)
    rng = random.Random(1)
    workspace = await make_workspace(db)
    kb, other_kb = await make_kb(db, workspace), await make_kb(db, workspace)
    vectors = [random_unit(rng) for _ in range(60)]
    _, ids = await add_document(db, index, kb, [f"chunk {i}" for i in range(60)], vectors)
    # The other knowledge base holds exact copies: they must never show up.
    await add_document(db, index, other_kb, [f"copy {i}" for i in range(60)], vectors)
    by_id = dict(zip(ids, vectors, strict=True))

    query = near(rng, vectors[7], 0.3)
    async with db.read_connection() as conn:
        hits = await index.semantic(conn, kb, DIMS, query, 10, Filters())
    assert [h.chunk_id for h in hits] == exact_order(query, by_id)[:10]
    assert hits[0].chunk_id == ids[7]
    for hit in hits:
        assert hit.score == pytest.approx(cosine(query, by_id[hit.chunk_id]), abs=1e-4)


async def test_approximate_paths_still_find_the_nearest(db: Database, backend: str) -> None:
    """Force the big-collection paths: sqlite's Hamming pre-selection with few candidates,
    pgvector's HNSW scan instead of the exact sort."""
    index: VectorIndex = (
        SqliteVecIndex(candidates=20) if backend == "sqlite" else PgVectorIndex(exact_limit=0)
    )
    rng = random.Random(2)
    workspace = await make_workspace(db)
    kb = await make_kb(db, workspace)
    vectors = [random_unit(rng) for _ in range(300)]
    _, ids = await add_document(db, index, kb, [f"chunk {i}" for i in range(300)], vectors)
    async with db.read_connection() as conn:
        for i in (0, 123, 299):
            hits = await index.semantic(conn, kb, DIMS, vectors[i], 5, Filters())
            assert len(hits) == 5
            assert hits[0].chunk_id == ids[i]
            assert hits[0].score == pytest.approx(1.0, abs=1e-4)


async def test_keyword_ranks_matching_terms_with_stemming(db: Database) -> None:
    index = index_for(db.dialect)
    rng = random.Random(3)
    workspace = await make_workspace(db)
    kb = await make_kb(db, workspace)
    texts = [
        "The lighthouse keeper trimmed the lamp wick every evening.",
        "Error E-4021: the toner cartridge is not detected by the printer.",
        "Error E-4017: paper jam in tray two.",
        "Ships were running for the harbour before the storm.",
        "Nothing to see here.",
    ]
    _, ids = await add_document(db, index, kb, texts, [random_unit(rng) for _ in texts])
    async with db.read_connection() as conn:
        code = await index.keyword(conn, kb, "E-4021", 5, Filters())
        stemmed = await index.keyword(conn, kb, "ship runs", 5, Filters())
        either = await index.keyword(conn, kb, "lamp harbour", 5, Filters())
        nothing = await index.keyword(conn, kb, "zeppelin", 5, Filters())
    assert [h.chunk_id for h in code] == [ids[1]]
    assert stemmed[0].chunk_id == ids[3]
    assert {h.chunk_id for h in either} == {ids[0], ids[3]}  # terms are OR-ed
    assert all(h.score > 0 for h in code + stemmed + either)
    assert nothing == []


async def test_hostile_keyword_text_never_raises(db: Database) -> None:
    index = index_for(db.dialect)
    rng = random.Random(4)
    workspace = await make_workspace(db)
    kb = await make_kb(db, workspace)
    texts = ["lamp harbour keeper", "AND OR NOT near the rock", 'a quoted "phrase" (here)']
    _, ids = await add_document(db, index, kb, texts, [random_unit(rng) for _ in texts])
    async with db.read_connection() as conn:
        for query in HOSTILE:
            hits = await index.keyword(conn, kb, query, 5, Filters())
            assert {h.chunk_id for h in hits} <= set(ids), query
        assert await index.keyword(conn, kb, "", 5, Filters()) == []
        assert (await index.keyword(conn, kb, "NOT lamp", 5, Filters()))[0].chunk_id == ids[0]
        assert (await index.keyword(conn, kb, "(phrase)", 5, Filters()))[0].chunk_id == ids[2]


async def test_filters_apply_inside_the_search(db: Database, backend: str) -> None:
    """k results come back when k chunks match, even when every nearer chunk is filtered
    out; on PostgreSQL through the HNSW path too (exact_limit=0)."""
    rng = random.Random(5)
    workspace = await make_workspace(db)
    kb = await make_kb(db, workspace)
    plain = index_for(db.dialect)
    center = random_unit(rng)
    # The decoys are nearer to the query than any matching chunk.
    decoys = [near(rng, center, 0.2) for _ in range(120)]
    wanted = [near(rng, center, 1.5) for _ in range(30)]
    decoy_doc, _ = await add_document(
        db, plain, kb, ["decoy lamp"] * 120, decoys,
        tags=["public"], metadata={"lang": "en", "year": 2023, "draft": True},
    )  # fmt: skip
    wanted_doc, wanted_ids = await add_document(
        db, plain, kb, ["wanted lamp"] * 30, wanted,
        tags=["public", "manual"], metadata={"lang": "en", "year": 2024, "draft": False},
    )  # fmt: skip
    cases = [
        Filters(document_ids=(wanted_doc,)),
        Filters(tags=("manual",)),
        Filters(tags=("public", "manual")),
        Filters(metadata={"year": 2024}),
        Filters(metadata={"year": 2024.0, "lang": ["fr", "en"]}),
        Filters(metadata={"draft": False}),
        Filters(metadata={"year": [1999, 2024]}, tags=("public",), document_ids=(wanted_doc,)),
    ]
    indexes = [plain, PgVectorIndex(exact_limit=0)] if backend == "postgres" else [plain]
    async with db.read_connection() as conn:
        for index in indexes:
            for filters in cases:
                hits = await index.semantic(conn, kb, DIMS, center, 10, filters)
                assert len(hits) == 10, filters
                assert {h.chunk_id for h in hits} <= set(wanted_ids), filters
                words = await index.keyword(conn, kb, "lamp", 40, filters)
                assert {h.chunk_id for h in words} == set(wanted_ids), filters
        for filters in [
            Filters(tags=("manual", "secret")),
            Filters(metadata={"year": "2024"}),  # a string is not a number
            Filters(metadata={"draft": 0}),  # a number is not a boolean
            Filters(metadata={"missing": None}),
            Filters(document_ids=(decoy_doc,), tags=("manual",)),
        ]:
            assert await plain.semantic(conn, kb, DIMS, center, 10, filters) == [], filters
            assert await plain.keyword(conn, kb, "lamp", 10, filters) == [], filters
        decoys_only = await plain.semantic(
            conn, kb, DIMS, center, 10, Filters(metadata={"draft": True})
        )
        assert len(decoys_only) == 10
        with pytest.raises(ValidationFailed):
            await plain.semantic(conn, kb, DIMS, center, 10, Filters(metadata={"x": {"a": 1}}))
        with pytest.raises(ValidationFailed):
            await plain.keyword(conn, kb, "lamp", 10, Filters(metadata={"x": []}))


async def test_remove_documents_leaves_no_orphans(db: Database) -> None:
    index = index_for(db.dialect)
    rng = random.Random(6)
    workspace = await make_workspace(db)
    kb = await make_kb(db, workspace)
    gone, gone_ids = await add_document(
        db, index, kb, [f"zebra {i}" for i in range(25)], [random_unit(rng) for _ in range(25)]
    )
    kept, kept_ids = await add_document(
        db, index, kb, [f"lamp {i}" for i in range(15)], [random_unit(rng) for _ in range(15)]
    )
    assert (await index_counts(db))["vectors"] == 40
    assert (await index_counts(db))["fts"] == 40

    # The order the service follows: index entries first, then chunks, then the document.
    async with db.write_connection() as conn:
        await index.remove_documents(conn, DIMS, [gone])
        await conn.execute(delete(Chunk).where(Chunk.document_id == gone))
        await conn.execute(delete(Document).where(Document.id == gone))
    counts = await index_counts(db)
    assert counts["vectors"] == 15 and counts["fts"] == 15
    assert set((await index_counts(db, gone)).values()) == {0}
    async with db.read_connection() as conn:
        assert await index.keyword(conn, kb, "zebra", 10, Filters()) == []
        hits = await index.semantic(conn, kb, DIMS, random_unit(rng), 50, Filters())
        assert {h.chunk_id for h in hits} == set(kept_ids)
    assert not set(gone_ids) & {h.chunk_id for h in hits}

    # Deleting the knowledge base cascades through documents and chunks to the index.
    async with db.write_connection() as conn:
        await conn.execute(delete(KnowledgeBase).where(KnowledgeBase.id == kb))
    assert set((await index_counts(db)).values()) == {0}
    assert set((await index_counts(db, kept)).values()) == {0}


async def test_chunks_deleted_first_leave_no_orphans_either(db: Database) -> None:
    index = index_for(db.dialect)
    rng = random.Random(7)
    workspace = await make_workspace(db)
    kb = await make_kb(db, workspace)
    doc, _ = await add_document(db, index, kb, ["a", "b"], [random_unit(rng) for _ in "ab"])
    async with db.write_connection() as conn:
        await conn.execute(delete(Chunk).where(Chunk.document_id == doc))
        await index.remove_documents(conn, DIMS, [doc])  # nothing left to do: no error
    assert set((await index_counts(db)).values()) == {0}


async def test_add_checks_its_input(db: Database) -> None:
    index = index_for(db.dialect)
    rng = random.Random(8)
    workspace = await make_workspace(db)
    kb, other_kb = await make_kb(db, workspace), await make_kb(db, workspace)
    _, ids = await add_document(db, index, kb, ["x"], [random_unit(rng)])
    async with db.write_connection() as conn:
        with pytest.raises(ValueError, match="not in knowledge base"):
            await index.add(conn, other_kb, DIMS, ids, [random_unit(rng)], ["x"])
    async with db.write_connection() as conn:
        with pytest.raises(ValueError, match="dimensions"):
            await index.add(conn, kb, DIMS, ["nope"], [[0.1] * 10], ["x"])
    async with db.write_connection() as conn:
        with pytest.raises(ValueError, match="unsupported embedding size"):
            await index.add(conn, kb, 500, ["nope"], [[0.1] * 500], ["x"])
    async with db.write_connection() as conn:
        with pytest.raises(ValueError, match="same length"):
            await index.add(conn, kb, DIMS, ["a", "b"], [random_unit(rng)], ["x"])
