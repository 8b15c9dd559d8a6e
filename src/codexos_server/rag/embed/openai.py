"""`openai`: any OpenAI-compatible `/v1/embeddings` (OpenAI, vLLM, Ollama, llama.cpp's server,
TEI) through the `openai` package's `AsyncOpenAI`.

Decisions, so callers know what to expect:

- **Dimensions** come from `extra["dimensions"]`, else a table of well-known models, else
  the first response (`dimensions` is 0 until then: call `await embedder.probe()` to learn
  it before creating a knowledge base). For `text-embedding-3-*` an explicit
  `extra["dimensions"]` is also sent, so the API shortens the vectors (e.g. 3072 -> 1536).
- **Unit vectors**: OpenAI's are; other servers' may not be, so every vector is normalized.
  A response whose size differs from `dimensions` raises `EmbeddingError`.
- **Batches** of `extra["batch_size"]` (default 128) inputs per request, in order; an empty
  text is sent as a space (the API refuses empty input).
- **Errors**, after the client's own retries (408/409/429/5xx and connection errors, with
  backoff): unreachable, bad credentials, unknown model or endpoint -> `ModelUnavailable`
  (503); anything else -> `EmbeddingError`.
- **SSRF**: with `extra["guarded"]` (a workspace's provider config) the base URL must lead to
  a public address unless its host is in `extra["allowed_hosts"]`, checked at every request
  and pinned at connect time — the chat adapter's guard (`llm._provider_guard`).
- **Tokens** are estimated (4 characters per token): a remote model's tokenizer is not
  available offline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import openai
from openai import AsyncOpenAI

from codexos_server.llm._provider_guard import (
    check_base_url,
    guarded_http_client,
    provider_guard,
    refusal_behind,
)
from codexos_server.llm.port import ModelUnavailable
from codexos_server.rag.embed.port import EmbedderSettings, EmbeddingError, register_embedder

PLACEHOLDER_API_KEY = "not-needed"  # local servers accept any key; the client wants one
CHARS_PER_TOKEN = 4
DEFAULT_BATCH_SIZE = 128
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_RETRIES = 2
# Lower-case model names (the part after the last "/"), longest matching prefix wins.
KNOWN_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "all-minilm-l6-v2": 384,
    "all-minilm": 384,
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "bge-small-en": 384,
    "bge-base-en": 768,
    "bge-large-en": 1024,
    "bge-m3": 1024,
    "e5-small": 384,
    "e5-base": 768,
    "e5-large": 1024,
    "multilingual-e5-large": 1024,
    "snowflake-arctic-embed": 1024,
    "gte-small": 384,
    "gte-base": 768,
    "gte-large": 1024,
}


def known_dimensions(model: str) -> int:
    """The model's vector size if it is a well-known one, else 0."""
    name = model.lower().rsplit("/", 1)[-1]
    for prefix in sorted(KNOWN_DIMENSIONS, key=len, reverse=True):
        if name.startswith(prefix):
            return KNOWN_DIMENSIONS[prefix]
    return 0


def _mapped(exc: openai.OpenAIError) -> Exception:
    """The one place an `openai` error becomes ours (after the client's own retries)."""
    if (refusal := refusal_behind(exc)) is not None:  # the SSRF guard refused a hop
        return refusal
    if isinstance(exc, openai.APITimeoutError):
        return EmbeddingError(f"The embedding provider timed out: {exc}")
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailable(f"The embedding provider cannot be reached: {exc}")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelUnavailable(f"The embedding provider refused the credentials: {exc.message}")
    if isinstance(exc, openai.NotFoundError):
        return ModelUnavailable(
            "The embedding provider has no such model or endpoint (check the model name and "
            f"base URL): {exc.message}"
        )
    if isinstance(exc, openai.APIStatusError):
        return EmbeddingError(f"The embedding provider answered {exc.status_code}: {exc.message}")
    return EmbeddingError(f"The embedding provider failed: {exc}")


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0 or not math.isfinite(norm):
        raise EmbeddingError("The embedding provider returned a zero or invalid vector")
    return [x / norm for x in vector]


class OpenAIEmbedder:
    """Embeddings over an OpenAI-compatible API; see the module docstring."""

    provider = "openai"

    def __init__(self, settings: EmbedderSettings) -> None:
        extra = settings.extra or {}
        self.model = settings.model
        requested = int(extra.get("dimensions") or 0)
        self.dimensions = requested or known_dimensions(settings.model)
        # Only the text-embedding-3 models accept a `dimensions` parameter.
        self._send_dimensions = bool(requested) and self.model.startswith("text-embedding-3")
        self.batch_size = int(extra.get("batch_size", DEFAULT_BATCH_SIZE))
        self._guard = (
            provider_guard(extra.get("allowed_hosts") or ()) if extra.get("guarded") else None
        )
        self._client = AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or PLACEHOLDER_API_KEY,
            timeout=float(extra.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            max_retries=int(extra.get("max_retries", DEFAULT_MAX_RETRIES)),
            http_client=guarded_http_client(self._guard) if self._guard else None,
        )

    async def _batch(self, texts: list[str]) -> list[list[float]]:
        params: dict[str, Any] = {"model": self.model, "input": texts}
        if self._send_dimensions:
            params["dimensions"] = self.dimensions
        try:
            response = await self._client.embeddings.create(**params)
        except openai.OpenAIError as exc:
            raise _mapped(exc) from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(texts):
            raise EmbeddingError(
                f"The embedding provider returned {len(data)} vectors for {len(texts)} texts"
            )
        vectors = [_unit(item.embedding) for item in data]
        size = len(vectors[0])
        if self.dimensions == 0:
            self.dimensions = size
        if any(len(v) != self.dimensions for v in vectors):
            raise EmbeddingError(
                f"The embedding provider returned {size}-dimensional vectors; "
                f"{self.dimensions} were expected for {self.model}"
            )
        return vectors

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text. Raises: ModelUnavailable, EmbeddingError."""
        if not texts:
            return []
        if self._guard is not None:
            await check_base_url(self._guard, str(self._client.base_url))
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
            vectors += await self._batch(batch)
        return vectors

    async def probe(self) -> int:
        """The model's vector size, asking the provider once if it is not known yet."""
        if self.dimensions == 0:
            await self.embed(["dimensions probe"])
        return self.dimensions

    def count_tokens(self, text: str) -> int:
        """An estimate: about 4 characters per token."""
        return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN

    async def close(self) -> None:
        await self._client.close()


@register_embedder("openai")
def _openai(settings: EmbedderSettings) -> OpenAIEmbedder:
    return OpenAIEmbedder(settings)
