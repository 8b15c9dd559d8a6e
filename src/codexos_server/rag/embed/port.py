"""The Embedder port and its registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Embedder(Protocol):
    """Turns texts into unit-length vectors (cosine similarity = dot product)."""

    provider: str
    model: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order. Raises: EmbeddingError, ModelUnavailable."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's tokenizer (for token-aware chunking)."""
        ...

    async def close(self) -> None: ...


class EmbeddingError(Exception):
    """An embedding call failed."""


@dataclass(frozen=True, slots=True)
class EmbedderSettings:
    provider: str  # "local", "openai", or a workspace provider config's kind
    model: str
    base_url: str | None = None
    api_key: str | None = None
    extra: dict[str, Any] | None = None


EmbedderFactory = Callable[[EmbedderSettings], Embedder]
EMBEDDERS: dict[str, EmbedderFactory] = {}


def register_embedder(kind: str) -> Callable[[EmbedderFactory], EmbedderFactory]:
    def register(factory: EmbedderFactory) -> EmbedderFactory:
        EMBEDDERS[kind] = factory
        return factory

    return register
