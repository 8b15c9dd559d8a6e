"""Chunking: a `ParsedDocument` into `ChunkDraft`s of at most `size` tokens.

Sizes are in the embedding model's tokens (`count_tokens`), because that is what the model
truncates at. Every chunk's exact count is measured once it is assembled and is `<= size`;
pieces are counted once each and summed to plan a chunk, so the tokenizer runs roughly once
per paragraph plus a few times per chunk, never once per word.

`recursive` (the default) follows the document's structure:

* Sections are cut into pieces of at most `size` tokens: whole paragraphs when they fit,
  else lines, sentences, runs of words, and as a last resort runs of characters.
* Pieces are packed greedily into chunks. A chunk does not cross into a section with another
  heading path or page, unless the chunk is still a runt (under a quarter of `size`): a lone
  heading or a nearly empty page then joins what follows instead of becoming a chunk of its
  own. A chunk carries the heading path and page of its first piece.
* Each chunk starts with the last ~`overlap` tokens of the previous chunk (cut at a word
  boundary, never the whole previous chunk) so a sentence cut at a boundary is whole in one of
  them. The overlap is carried across page breaks, which cut text arbitrarily, but not into a
  new heading path: text from the previous topic would mislabel the chunk.

`fixed` ignores structure: windows of as many words as fit in `size` tokens, each starting
~`overlap` tokens before the previous one ended, labelled with the heading path and page of the
word they start at.

Both are deterministic, normalise whitespace and never produce an empty chunk; positions run
0..n-1.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from codexos_server.rag.ingest._split import Piece, Tokens, fit, split_paragraph, tail
from codexos_server.rag.ingest._text import normalize_whitespace
from codexos_server.rag.ingest.types import ChunkDraft, ParsedDocument

Strategy = Literal["recursive", "fixed"]
_WORD = re.compile(r"\S+")
_Key = tuple[tuple[str, ...], int | None]


def chunk(
    doc: ParsedDocument,
    *,
    strategy: Strategy,
    size: int,
    overlap: int,
    count_tokens: Callable[[str], int],
) -> list[ChunkDraft]:
    """Cut `doc` into chunks of at most `size` tokens sharing about `overlap` tokens.

    Raises: ValueError for an unknown strategy, `size < 1`, `overlap` outside `0..size-1`, or a
    `size` that leaves no room for text beside the tokenizer's special tokens.
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got {size=} {overlap=}")
    tokens = Tokens(count_tokens)
    budget = size - tokens.overhead
    if budget < 1:
        raise ValueError(f"size {size} leaves no room beside {tokens.overhead} special tokens")
    if strategy == "recursive":
        return _recursive(doc, budget, overlap, tokens)
    if strategy == "fixed":
        return _fixed(doc, budget, overlap, tokens)
    raise ValueError(f"unknown chunking strategy {strategy!r}")


@dataclass(frozen=True, slots=True)
class _Unit:
    piece: Piece
    key: _Key


def _recursive(doc: ParsedDocument, budget: int, overlap: int, tokens: Tokens) -> list[ChunkDraft]:
    units = [
        _Unit(piece, (section.heading_path, section.page))
        for section in doc.sections
        for paragraph in normalize_whitespace(section.text).split("\n\n")
        if paragraph
        for piece in split_paragraph(paragraph, budget, tokens)
    ]
    runt = budget // 4
    chunks: list[ChunkDraft] = []
    previous: tuple[str, int, tuple[str, ...]] | None = None  # text, content tokens, path
    start = 0
    while start < len(units):
        first = units[start]
        prefix, total = "", 0
        if overlap and previous is not None and previous[2] == first.key[0]:
            room = min(overlap, budget - first.piece.tokens)
            prefix, total = tail(previous[0], room, tokens, previous[1])
        total += first.piece.tokens
        end, key = start + 1, first.key
        while end < len(units):
            unit = units[end]
            if total + unit.piece.tokens > budget or (unit.key != key and total >= runt):
                break
            total, key, end = total + unit.piece.tokens, unit.key, end + 1
        while True:  # the plan is a sum of estimates: verify, and shed pieces if it is over
            text = _join(prefix, units[start:end])
            count = tokens.content(text)
            if count <= budget or (end - start == 1 and not prefix):
                break
            if end - start > 1:
                end -= 1
            else:
                prefix = ""
        path, page = first.key
        chunks.append(ChunkDraft(text, len(chunks), count + tokens.overhead, path, page))
        previous = (text, count, units[end - 1].key[0])
        start = end
    return chunks


def _join(prefix: str, units: list[_Unit]) -> str:
    parts = [prefix] if prefix else []
    for unit in units:
        if parts:
            parts.append(unit.piece.sep)
        parts.append(unit.piece.text)
    return "".join(parts).strip()


def _fixed(doc: ParsedDocument, budget: int, overlap: int, tokens: Tokens) -> list[ChunkDraft]:
    texts: list[str] = []
    keys: list[_Key] = []
    offsets: list[int] = []  # where each section starts in `full`
    position = 0
    for section in doc.sections:
        text = normalize_whitespace(section.text)
        if text:
            texts.append(text)
            keys.append((section.heading_path, section.page))
            offsets.append(position)
            position += len(text) + 1
    full = "\n".join(texts)
    words = _Words(full)
    chunks: list[ChunkDraft] = []
    start, guess = 0, max(1, budget // 2)
    while start < len(words.starts):
        path, page = keys[bisect.bisect_right(offsets, words.starts[start]) - 1]
        n, count = fit(words.window_cost(start, tokens), budget, len(words.starts) - start, guess)
        if n == 0:  # one word longer than the budget: take as many of its characters as fit
            word = full[words.starts[start] : words.ends[start]]
            cut, count = fit(_PrefixCost(word, tokens), budget, len(word) - 1, len(word) // 2)
            cut = max(cut, 1)  # a lone character over the budget is kept whole
            text, count = word[:cut], tokens.content(word[:cut])
            chunks.append(ChunkDraft(text, len(chunks), count + tokens.overhead, path, page))
            if cut < len(word):
                words.starts[start] += cut
            else:
                start += 1
            continue
        text = words.window(start, n)
        chunks.append(ChunkDraft(text, len(chunks), count + tokens.overhead, path, page))
        if start + n >= len(words.starts):
            break
        back = 0
        if overlap and n > 1:
            back_guess = min(n - 1, max(1, n * overlap // max(count, 1)))  # see _split.tail
            back, _ = fit(words.tail_cost(start + n, tokens), overlap, back_guess, back_guess)
        start, guess = start + n - back, n
    return chunks


class _Words:
    """Word boundaries of a text, kept as two integer arrays rather than a list of strings:
    a long document has millions of words."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = array("q")
        self.ends = array("q")
        for match in _WORD.finditer(text):
            self.starts.append(match.start())
            self.ends.append(match.end())

    def window(self, start: int, n: int) -> str:
        return " ".join(self.text[self.starts[start] : self.ends[start + n - 1]].split())

    def window_cost(self, start: int, tokens: Tokens) -> Callable[[int], int]:
        return lambda n: tokens.content(self.window(start, n))

    def tail_cost(self, end: int, tokens: Tokens) -> Callable[[int], int]:
        """Cost of the last n words before word `end`."""
        return lambda n: tokens.content(self.window(end - n, n))


@dataclass(frozen=True, slots=True)
class _PrefixCost:
    word: str
    tokens: Tokens

    def __call__(self, n: int) -> int:
        return self.tokens.content(self.word[:n])
