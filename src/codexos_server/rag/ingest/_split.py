"""Token-aware splitting helpers for the chunkers.

The token counter is the embedding model's tokenizer and may be slow, so nothing here counts
word by word: a paragraph is counted once and split only if it is too long, and runs of words
are sized with a galloping search (a few counts per run, not one per word).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# Western sentence ends followed by a space; CJK full stop, exclamation and question marks.
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+|(?<=[\u3002\uff01\uff1f])")
_WORD = re.compile(r"\S+")


class Tokens:
    """`count_tokens` with its fixed overhead taken out.

    Tokenizers for embedding models add special tokens to every text (all-MiniLM adds [CLS]
    and [SEP]); counting them once per piece would make the sum of pieces overestimate a
    chunk. `content` counts text tokens only, so counts of pieces joined by whitespace add up
    (exactly for whitespace and WordPiece tokenizers, nearly for BPE; chunks are verified).
    """

    def __init__(self, count_tokens: Callable[[str], int]) -> None:
        self.total = count_tokens
        self.overhead = max(count_tokens(""), 0)

    def content(self, text: str) -> int:
        return max(self.total(text) - self.overhead, 0)


@dataclass(frozen=True, slots=True)
class Piece:
    """Text of at most the budget's tokens, and how it joins the piece before it in a chunk:
    "\\n\\n" between paragraphs, "\\n" between lines, " " between sentences or words, "" between
    runs of characters cut out of one over-long word."""

    text: str
    tokens: int
    sep: str


def fit(cost: Callable[[int], int], limit: int, most: int, guess: int) -> tuple[int, int]:
    """The largest n in 0..most with cost(n) <= limit, and that cost, for a cost that grows
    with n (cost(0) is taken as 0).

    Probes `guess` (the previous answer, say), then the proportional estimate
    `n * limit / cost(n)`, then gallops from there to the boundary and bisects: typically three
    or four calls of `cost`, each of which runs the tokenizer on a whole candidate.
    """
    if most <= 0:
        return 0, 0
    costs: dict[int, int] = {0: 0}

    def measure(n: int) -> int:
        if n not in costs:
            costs[n] = cost(n)
        return costs[n]

    low, high = 0, most + 1  # cost(low) fits; high does not (or is out of range)
    probe, fitted = min(max(guess, 1), most), True
    for _ in range(2):
        count = measure(probe)
        fitted = count <= limit
        low, high = (probe, high) if fitted else (low, probe)
        if high - low <= 1:
            return low, measure(low)
        estimate = probe * limit // count if count else high - 1
        probe = min(max(estimate, low + 1), high - 1)
    step = 1
    while high - low > 1:
        probe = min(low + step, high - 1) if fitted else max(high - step, low + 1)
        crossed = (measure(probe) <= limit) != fitted
        low, high = (probe, high) if measure(probe) <= limit else (low, probe)
        if crossed:
            break
        step *= 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if measure(middle) <= limit else (low, middle)
    return low, measure(low)


def split_paragraph(text: str, budget: int, tokens: Tokens) -> Iterator[Piece]:
    """Pieces of at most `budget` content tokens: the paragraph if it fits, else its lines,
    then sentences, then runs of words, then runs of characters (a word longer than the
    budget, such as a long URL or a base64 blob)."""
    yield from _split(text, "\n\n", 0, budget, tokens)


def _split(text: str, sep: str, level: int, budget: int, tokens: Tokens) -> Iterator[Piece]:
    # Every tokenizer we know gives a word at least one token, so text with more words than
    # the budget is split without paying for a count that could only say "too long".
    if len(text.split()) <= budget:
        count = tokens.content(text)
        if count <= budget:
            yield Piece(text, count, sep)
            return
    while level < 2:
        parts = text.split("\n") if level == 0 else _SENTENCE_END.split(text)
        parts = [part.strip() for part in parts if part.strip()]
        joiner = "\n" if level == 0 else " "
        level += 1
        if len(parts) > 1:
            for index, part in enumerate(parts):
                yield from _split(part, sep if index == 0 else joiner, level, budget, tokens)
            return
    yield from _runs(text.split(), " ", sep, budget, tokens)


def _runs(parts: list[str], joiner: str, sep: str, budget: int, tokens: Tokens) -> Iterator[Piece]:
    """Greedy runs of consecutive `parts` joined by `joiner`, each as long as fits."""
    start, guess = 0, 1
    while start < len(parts):
        n, count = fit(_JoinCost(parts, start, joiner, tokens), budget, len(parts) - start, guess)
        between = sep if start == 0 else joiner
        if n == 0 and joiner:
            yield from _runs(list(parts[start]), "", between, budget, tokens)
            n = 1
        elif n == 0:  # one character over the budget: nothing smaller to cut it into
            n, count = 1, tokens.content(parts[start])
            yield Piece(parts[start], count, between)
        else:
            yield Piece(joiner.join(parts[start : start + n]), count, between)
        start, guess = start + n, n


@dataclass(frozen=True, slots=True)
class _JoinCost:
    parts: list[str]
    start: int
    joiner: str
    tokens: Tokens

    def __call__(self, n: int) -> int:
        return self.tokens.content(self.joiner.join(self.parts[self.start : self.start + n]))


def tail(text: str, limit: int, tokens: Tokens, text_tokens: int) -> tuple[str, int]:
    """The end of `text`, cut at a word boundary, of about and at most `limit` content tokens
    (never the whole of `text`), with its count; ("", 0) when not even its last word fits."""
    if limit <= 0:
        return "", 0
    starts = [match.start() for match in _WORD.finditer(text)]
    if len(starts) < 2:
        return "", 0
    # The previous chunk's tokens-per-word ratio predicts the word count; that guess is also
    # the cap, so an overlap costs one or two counts of a short text, not a search.
    guess = max(1, limit * len(starts) // max(text_tokens, 1))
    n, count = fit(_TailCost(text, starts, tokens), limit, min(guess, len(starts) - 1), guess)
    return (text[starts[-n] :], count) if n else ("", 0)


@dataclass(frozen=True, slots=True)
class _TailCost:
    text: str
    starts: list[int]
    tokens: Tokens

    def __call__(self, n: int) -> int:
        return self.tokens.content(self.text[self.starts[-n] :])
