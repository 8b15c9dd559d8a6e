"""The `openai` embedder against a real HTTP server on 127.0.0.1 that speaks the
`/v1/embeddings` protocol: batching, order, normalization, dimensions, errors, SSRF guard."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from codexos_server.llm.port import ModelUnavailable
from codexos_server.rag.embed.openai import OpenAIEmbedder, known_dimensions
from codexos_server.rag.embed.port import EMBEDDERS, EmbedderSettings, EmbeddingError


def fake_vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [float(digest[i % 32] - 100) for i in range(dims)]  # deliberately not unit length


class EmbeddingsServer:
    """POST /v1/embeddings. Model "missing" -> 404, "boom" -> 500, "short" -> one vector too
    few; a key other than "good" -> 401. Vectors are 6-d unless `dimensions` is asked."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> EmbeddingsServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _answer(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        if headers.get("authorization") != "Bearer good":
            return 401, {"error": {"message": "bad key", "type": "invalid_request_error"}}
        model = body["model"]
        if model == "missing":
            return 404, {"error": {"message": "no such model"}}
        if model == "boom":
            return 500, {"error": {"message": "exploded"}}
        texts = body["input"]
        dims = body.get("dimensions", 6)
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t, dims)}
            for i, t in enumerate(texts)
        ]
        if model == "short":
            data = data[:-1]
        data.reverse()  # the client must order by index
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return 200, {"object": "list", "data": data, "model": model, "usage": usage}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
                }
                body = json.loads(await reader.readexactly(int(headers["content-length"])))
                self.bodies.append(body)
                status, payload = self._answer(headers, body)
                raw = json.dumps(payload).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(raw)}\r\n\r\n".encode()
                    + raw
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[EmbeddingsServer]:
    async with EmbeddingsServer() as s:
        yield s


def make(server: EmbeddingsServer, model: str = "my-embedder", **extra: Any) -> OpenAIEmbedder:
    settings = EmbedderSettings(
        "openai", model, base_url=server.base_url, api_key="good", extra={"max_retries": 0, **extra}
    )
    made = EMBEDDERS["openai"](settings)
    assert isinstance(made, OpenAIEmbedder)
    return made


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


async def test_batches_in_order_as_unit_vectors(server: EmbeddingsServer) -> None:
    embedder = make(server, batch_size=3)
    assert embedder.dimensions == 0  # unknown model: learnt from the first response
    texts = [f"text {i}" for i in range(7)] + [""]
    vectors = await embedder.embed(texts)
    assert embedder.dimensions == 6
    assert [len(body["input"]) for body in server.bodies] == [3, 3, 2]
    assert server.bodies[-1]["input"][-1] == " "  # empty text sent as a space
    for text, vector in zip(texts, vectors, strict=True):
        expected = fake_vector(text or " ", 6)
        scale = norm(expected)
        assert norm(vector) == pytest.approx(1.0)
        assert vector == pytest.approx([x / scale for x in expected])
    assert await embedder.embed([]) == []
    assert embedder.count_tokens("12345678") == 2
    await embedder.close()


async def test_dimensions_known_asked_and_checked(server: EmbeddingsServer) -> None:
    assert known_dimensions("text-embedding-3-small") == 1536
    assert known_dimensions("nomic-ai/nomic-embed-text-v1.5") == 768
    assert known_dimensions("mystery") == 0
    shortened = make(server, "text-embedding-3-large", dimensions=1024)
    assert shortened.dimensions == 1024
    (vector,) = await shortened.embed(["x"])
    assert len(vector) == 1024 and server.bodies[-1]["dimensions"] == 1024
    assert await make(server).probe() == 6
    wrong = make(server, "bge-large-en-v1.5")  # known as 1024-d; this server sends 6
    with pytest.raises(EmbeddingError, match="6-dimensional"):
        await wrong.embed(["x"])


async def test_provider_errors_are_mapped(server: EmbeddingsServer) -> None:
    with pytest.raises(ModelUnavailable, match="no such model"):
        await make(server, "missing").embed(["x"])
    with pytest.raises(EmbeddingError, match="500"):
        await make(server, "boom").embed(["x"])
    with pytest.raises(EmbeddingError, match="1 vectors for 2 texts"):
        await make(server, "short").embed(["x", "y"])
    bad_key = EmbedderSettings("openai", "m", base_url=server.base_url, api_key="bad")
    with pytest.raises(ModelUnavailable, match="credentials"):
        await OpenAIEmbedder(bad_key).embed(["x"])
    unreachable = EmbedderSettings(
        "openai", "m", base_url="http://127.0.0.1:9/v1", extra={"max_retries": 0}
    )
    with pytest.raises(ModelUnavailable, match="cannot be reached"):
        await OpenAIEmbedder(unreachable).embed(["x"])


async def test_guarded_configs_cannot_reach_private_addresses(server: EmbeddingsServer) -> None:
    with pytest.raises(ModelUnavailable, match="not allowed"):
        await make(server, guarded=True).embed(["x"])
    assert server.bodies == []  # refused before any request
    allowed = make(server, guarded=True, allowed_hosts=["127.0.0.1"])
    assert len((await allowed.embed(["x"]))[0]) == 6
    await allowed.close()
