"""search.retrieve on both databases with the real local embedder: modes, fusion, min_score,
filters, hydration, and retrieval quality on a small labelled set."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import pytest

from codexos_server.db.database import Database
from codexos_server.rag.embed.local import LocalEmbedder
from codexos_server.rag.embed.port import EmbedderSettings
from codexos_server.rag.index.port import Filters, Hit
from codexos_server.rag.index.registry import index_for
from codexos_server.rag.search import Mode, Retrieved, fuse, retrieve
from tests.conftest import truncate_all
from tests.rag.index_rows import DIMS, add_document, make_kb, make_workspace

pytest.importorskip("sentence_transformers")

# A small labelled set: each query has one right chunk.
DOCUMENTS: dict[str, list[str]] = {
    "parts-catalogue.md": [
        "Part XR-7730-B is the replacement hinge for the scanner lid of the Model 9 printer.",
        "Part XR-7703-B is the replacement latch for the paper tray of the Model 9 printer.",
        "Part XR-7370-C is the replacement spring for the scanner lid of the Model 7 printer.",
        "Part KT-1190-A is the toner cartridge for the Model 9 printer, yield 3,000 pages.",
    ],
    "printer-errors.md": [
        "Error E-4017 means a paper jam in tray two. Open the rear door and pull the sheet out.",
        "Error E-4021 means the toner cartridge is not detected. Reseat it until it clicks.",
        "Error E-4033 means the fuser is overheating. Switch off and let it cool for an hour.",
    ],
    "account-help.md": [
        "Forgot your password? Open the sign-in page and choose 'Forgot password': we email "
        "you a reset link that is valid for one hour.",
        "Two-factor authentication adds a one-time code from your phone to every sign-in.",
        "You can change the email address of your profile under Settings, then Profile.",
        "Deleting your account removes the workspaces you own after a 30-day grace period.",
    ],
    "office.md": [
        "The cafeteria on the second floor serves lunch from noon until two.",
        "Visitors register at the front desk and wear a badge at all times.",
        "Printer paper and toner are kept in the supply room next to the lifts.",
    ],
}
EXACT_TERM = ("XR-7730-B", ("parts-catalogue.md", 0))
PARAPHRASE = (
    "I no longer recall the secret phrase I log in with, what now?",
    ("account-help.md", 0),
)


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder(EmbedderSettings("local", "all-MiniLM-L6-v2"))


@pytest.fixture
async def db(database_url: str, backend: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    if backend == "postgres":
        await truncate_all(database)
    yield database
    await database.dispose()


@pytest.fixture
async def corpus(
    db: Database, embedder: LocalEmbedder
) -> tuple[str, dict[tuple[str, int], str], dict[str, str]]:
    """(knowledge base id, (document name, position) -> chunk id, name -> document id)."""
    index = index_for(db.dialect)
    kb = await make_kb(db, await make_workspace(db))
    chunks: dict[tuple[str, int], str] = {}
    documents: dict[str, str] = {}
    for number, (name, texts) in enumerate(DOCUMENTS.items()):
        document_id, ids = await add_document(
            db,
            index,
            kb,
            texts,
            await embedder.embed(texts),
            name=name,
            tags=["manual"] if name != "office.md" else ["internal"],
            metadata={"section": name.split(".")[0], "order": number},
            pages=[number + 1] * len(texts),
            headings=[[name, f"part {i}"] for i in range(len(texts))],
        )
        documents[name] = document_id
        chunks.update({(name, i): chunk_id for i, chunk_id in enumerate(ids)})
    return kb, chunks, documents


async def run(
    db: Database, embedder: LocalEmbedder, kb: str, query: str, mode: str, **options: Any
) -> list[Retrieved]:
    index = index_for(db.dialect)
    return await retrieve(db, index, embedder, kb, DIMS, query, mode=cast(Mode, mode), **options)


def ids(results: Sequence[Retrieved]) -> list[str]:
    return [r.chunk_id for r in results]


def test_fuse_is_weighted_reciprocal_rank_fusion_scaled_to_one() -> None:
    semantic = [Hit("a", 0.9), Hit("b", 0.8), Hit("c", 0.1)]
    keyword = [Hit("b", 12.0), Hit("d", 3.0)]
    fused = fuse(semantic, keyword, 1.0, 1.0)
    scale = 61 / 2
    expected = {
        "b": (1 / 62 + 1 / 61) * scale,
        "a": (1 / 61) * scale,
        "d": (1 / 62) * scale,
        "c": (1 / 63) * scale,
    }
    assert [h.chunk_id for h in fused] == ["b", "a", "d", "c"]
    for hit in fused:
        assert hit.score == pytest.approx(expected[hit.chunk_id])
    assert fuse([Hit("a", 1)], [Hit("a", 1)], 2.0, 0.5)[0].score == pytest.approx(1.0)
    weighted = fuse([Hit("a", 1)], [Hit("b", 1)], 3.0, 1.0)
    assert [h.chunk_id for h in weighted] == ["a", "b"]
    assert weighted[0].score == pytest.approx(0.75)
    assert fuse(semantic, keyword, 0.0, 0.0) == []


async def test_hybrid_finds_exact_terms_and_paraphrases(
    db: Database,
    embedder: LocalEmbedder,
    corpus: tuple[str, dict[tuple[str, int], str], dict[str, str]],
) -> None:
    kb, chunks, _ = corpus
    code_query, code_label = EXACT_TERM
    paraphrase_query, paraphrase_label = PARAPHRASE

    # Each single mode is weak on one of them ...
    semantic_code = await run(db, embedder, kb, code_query, "semantic", top_k=3)
    assert ids(semantic_code)[0] != chunks[code_label]
    keyword_paraphrase = await run(db, embedder, kb, paraphrase_query, "keyword", top_k=3)
    assert chunks[paraphrase_label] not in ids(keyword_paraphrase)
    # ... and the other finds it ...
    keyword_code = await run(db, embedder, kb, code_query, "keyword", top_k=3)
    assert ids(keyword_code)[0] == chunks[code_label]
    semantic_paraphrase = await run(db, embedder, kb, paraphrase_query, "semantic", top_k=3)
    assert ids(semantic_paraphrase)[0] == chunks[paraphrase_label]
    # ... and hybrid finds both first.
    for query, label in (EXACT_TERM, PARAPHRASE):
        hybrid = await run(db, embedder, kb, query, "hybrid", top_k=3)
        assert ids(hybrid)[0] == chunks[label], query
        assert 0 < hybrid[-1].score <= hybrid[0].score <= 1.0


async def test_results_carry_the_chunk_and_its_document(
    db: Database,
    embedder: LocalEmbedder,
    corpus: tuple[str, dict[tuple[str, int], str], dict[str, str]],
) -> None:
    kb, chunks, documents = corpus
    (first,) = await run(db, embedder, kb, "E-4033 fuser overheating", "hybrid", top_k=1)
    assert first == Retrieved(
        chunk_id=chunks[("printer-errors.md", 2)],
        document_id=documents["printer-errors.md"],
        document_name="printer-errors.md",
        position=2,
        page=2,
        heading_path=["printer-errors.md", "part 2"],
        text=DOCUMENTS["printer-errors.md"][2],
        score=pytest.approx(1.0),  # type: ignore[arg-type]
    )


async def test_top_k_min_score_and_scores_per_mode(
    db: Database,
    embedder: LocalEmbedder,
    corpus: tuple[str, dict[tuple[str, int], str], dict[str, str]],
) -> None:
    kb, _, _ = corpus
    query = "toner cartridge"
    semantic = await run(db, embedder, kb, query, "semantic", top_k=5)
    assert len(semantic) == 5
    assert all(-1.0 <= r.score <= 1.0 for r in semantic)
    assert [r.score for r in semantic] == sorted((r.score for r in semantic), reverse=True)
    cut = (semantic[1].score + semantic[2].score) / 2
    assert ids(await run(db, embedder, kb, query, "semantic", top_k=5, min_score=cut)) == ids(
        semantic[:2]
    )
    keyword = await run(db, embedder, kb, query, "keyword", top_k=10)
    assert len(keyword) == 3  # only three chunks mention toner or cartridge
    assert all(r.score > 0 for r in keyword)
    hybrid = await run(db, embedder, kb, query, "hybrid", top_k=4, min_score=0.5)
    assert hybrid and all(r.score >= 0.5 for r in hybrid)
    assert await run(db, embedder, kb, query, "hybrid", top_k=4, min_score=1.01) == []
    assert await run(db, embedder, kb, "   ", "keyword", top_k=4) == []
    with pytest.raises(ValueError, match="mode"):
        await run(db, embedder, kb, query, "fuzzy", top_k=4)
    with pytest.raises(ValueError, match="top_k"):
        await run(db, embedder, kb, query, "hybrid", top_k=0)


async def test_weights_and_filters_reach_the_index(
    db: Database,
    embedder: LocalEmbedder,
    corpus: tuple[str, dict[tuple[str, int], str], dict[str, str]],
) -> None:
    kb, chunks, documents = corpus
    code_query, code_label = EXACT_TERM
    semantic_only = await run(db, embedder, kb, code_query, "hybrid", top_k=3, keyword_weight=0.0)
    plain_semantic = await run(db, embedder, kb, code_query, "semantic", top_k=3)
    assert ids(semantic_only) == ids(plain_semantic)
    keyword_heavy = await run(
        db, embedder, kb, code_query, "hybrid", top_k=1, semantic_weight=0.2, keyword_weight=5
    )
    assert ids(keyword_heavy) == [chunks[code_label]]

    office = Filters(tags=("internal",))
    for mode in ("semantic", "keyword", "hybrid"):
        results = await run(db, embedder, kb, "printer toner", mode, top_k=10, filters=office)
        assert results and {r.document_name for r in results} == {"office.md"}, mode
    by_metadata = Filters(metadata={"section": ["printer-errors", "office"]}, tags=("manual",))
    results = await run(db, embedder, kb, "toner", "hybrid", top_k=10, filters=by_metadata)
    assert {r.document_id for r in results} == {documents["printer-errors.md"]}
