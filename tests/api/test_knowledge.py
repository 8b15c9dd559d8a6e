"""Knowledge bases over HTTP: CRUD, refusals, deduplication, query, re-index, delete without
orphans, ownership, and `rag` agents citing their sources (document types and URL ingestion
are in test_knowledge_documents.py). Real embeddings (all-MiniLM-L6-v2), real index."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from codexos_server.container import Container
from tests.conftest import Account, assert_envelope

TERMINAL = {"indexed", "failed"}


async def wait_done(
    http: httpx.AsyncClient, account: Account, kb_id: str, doc_id: str, timeout: float = 60
) -> dict[str, Any]:
    """Wait for a document to be indexed or failed; a document stuck in a non-terminal state
    fails the test loudly."""
    deadline = time.monotonic() + timeout
    while True:
        doc = (
            await http.get(
                f"/knowledge-bases/{kb_id}/documents/{doc_id}", headers=account.headers()
            )
        ).json()
        if doc["status"] in TERMINAL:
            return dict(doc)
        assert time.monotonic() < deadline, f"document stuck in {doc['status']}: {doc}"
        await asyncio.sleep(0.05)


async def make_kb(http: httpx.AsyncClient, account: Account, **extra: Any) -> dict[str, Any]:
    r = await http.post(
        "/knowledge-bases", json={"name": "docs", **extra}, headers=account.headers()
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def add_text(
    http: httpx.AsyncClient, account: Account, kb_id: str, text: str, **extra: Any
) -> dict[str, Any]:
    r = await http.post(
        f"/knowledge-bases/{kb_id}/documents",
        json={"text": text, **extra},
        headers=account.headers(),
    )
    assert r.status_code in (200, 201), r.text
    return await wait_done(http, account, kb_id, r.json()["id"])


async def upload(
    http: httpx.AsyncClient,
    account: Account,
    kb_id: str,
    name: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    **form: str,
) -> httpx.Response:
    return await http.post(
        f"/knowledge-bases/{kb_id}/documents",
        files={"file": (name, data, content_type)},
        data=form,
        headers=account.headers(),
    )


async def test_crud_and_settings(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    kb = await make_kb(
        client,
        account,
        description="manuals",
        chunking={"strategy": "fixed", "size": 128, "overlap": 16},
        retrieval={"mode": "semantic", "top_k": 3},
    )
    assert (
        kb["embedding"] == {"provider": "local", "model": "all-MiniLM-L6-v2"}
        and kb["embedding_dimensions"] == 384
    )
    assert kb["chunking"]["strategy"] == "fixed" and kb["retrieval"]["top_k"] == 3
    r = await client.patch(
        f"/knowledge-bases/{kb['id']}",
        json={"name": "renamed", "retrieval": {"mode": "keyword"}},
        headers=h,
    )
    assert r.json()["name"] == "renamed" and r.json()["retrieval"]["mode"] == "keyword"
    assert [k["id"] for k in (await client.get("/knowledge-bases", headers=h)).json()["items"]] == [
        kb["id"]
    ]
    for bad in (
        {"name": ""},
        {"name": "x", "chunking": {"size": 64, "overlap": 64}},
        {"name": "x", "embedding": {"provider": "nope"}},
        {"name": "x", "retrieval": {"mode": "psychic"}},
    ):
        assert_envelope(
            await client.post("/knowledge-bases", json=bad, headers=h), 422, "VALIDATION_ERROR"
        )
    assert (await client.delete(f"/knowledge-bases/{kb['id']}", headers=h)).status_code == 204
    assert_envelope(
        await client.get(f"/knowledge-bases/{kb['id']}", headers=h), 404, "RESOURCE_NOT_FOUND"
    )


async def test_text_json_and_query_with_citations(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    account: Account = await make_account()
    kb = await make_kb(client, account)
    paris = await add_text(
        client,
        account,
        kb["id"],
        "# Capitals\n\nParis is the capital of France. It lies on the Seine.",
        format="md",
        name="capitals",
    )
    assert paris["status"] == "indexed" and paris["chunk_count"] >= 1 and paris["kind"] == "md"
    r = await client.post(
        f"/knowledge-bases/{kb['id']}/documents",
        json={"json": {"product": {"sku": "ZX-4471", "name": "Quantum toaster"}}},
        headers=account.headers(),
    )
    toaster = await wait_done(client, account, kb["id"], r.json()["id"])
    assert toaster["status"] == "indexed" and toaster["kind"] == "json"
    result = (
        await client.post(
            f"/knowledge-bases/{kb['id']}/query",
            json={"query": "Which city is France's capital?"},
            headers=account.headers(),
        )
    ).json()
    top = result["results"][0]
    assert top["document_id"] == paris["id"] and "Paris" in top["text"]
    assert top["citation"].startswith("capitals") and "Capitals" in top["citation"]
    assert result["mode"] == "hybrid"
    exact = (
        await client.post(
            f"/knowledge-bases/{kb['id']}/query",
            json={"query": "ZX-4471", "mode": "keyword"},
            headers=account.headers(),
        )
    ).json()
    assert exact["results"][0]["document_id"] == toaster["id"]
    events = await container.events.history(f"document:{paris['id']}")
    progress = [e.data for e in events if e.type == "document.progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == paris["chunk_count"]
    statuses = [e.data["status"] for e in events if e.type == "document.status"]
    assert statuses == ["queued", "parsing", "embedding", "indexed"]


async def test_same_content_is_not_stored_twice(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    kb = await make_kb(client, account)
    first = await client.post(
        f"/knowledge-bases/{kb['id']}/documents",
        json={"text": "same words"},
        headers=account.headers(),
    )
    again = await client.post(
        f"/knowledge-bases/{kb['id']}/documents",
        json={"text": "same words"},
        headers=account.headers(),
    )
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"] is True
    upload_again = await upload(client, account, kb["id"], "copy.txt", b"same words", "text/plain")
    assert upload_again.status_code == 200 and upload_again.json()["id"] == first.json()["id"]
    assert (await client.get(f"/knowledge-bases/{kb['id']}", headers=account.headers())).json()[
        "document_count"
    ] == 1


async def test_refusals(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    account: Account = await make_account()
    kb = await make_kb(client, account)
    r = await upload(
        client, account, kb["id"], "picture.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"
    )
    err = assert_envelope(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "pdf" in err["details"]["supported"]
    assert_envelope(
        await upload(client, account, kb["id"], "program.exe", b"MZ\x90\x00" + b"\x00" * 100),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    assert_envelope(
        await upload(
            client, account, kb["id"], "notes.txt", b"\x00\x01\x02\xff" * 200, "text/plain"
        ),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    assert_envelope(
        await upload(client, account, kb["id"], "empty.txt", b"", "text/plain"),
        422,
        "VALIDATION_ERROR",
    )
    r = await client.post(
        f"/knowledge-bases/{kb['id']}/documents",
        files={"nope": ("a.txt", b"x")},
        headers=account.headers(),
    )
    assert_envelope(r, 422, "VALIDATION_ERROR")
    for body in (
        {},
        {"text": "a", "url": "https://example.com"},
        {"text": 5},
        {"text": "a", "format": "exe"},
    ):
        assert_envelope(
            await client.post(
                f"/knowledge-bases/{kb['id']}/documents", json=body, headers=account.headers()
            ),
            422,
            "VALIDATION_ERROR",
        )
    r = await client.post(
        f"/knowledge-bases/{kb['id']}/documents",
        content=b"{broken",
        headers={**account.headers(), "content-type": "application/json"},
    )
    assert_envelope(r, 422, "VALIDATION_ERROR")
    r = await client.post(
        f"/knowledge-bases/{kb['id']}/documents",
        json={"url": "http://169.254.169.254/latest/meta-data"},
        headers=account.headers(),
    )
    assert_envelope(r, 422, "VALIDATION_ERROR")


async def test_upload_size_cap(client_factory: Callable[..., Any]) -> None:
    from tests.conftest import register

    http = await client_factory(max_upload_bytes=4096)
    account = await register(http)
    kb = await make_kb(http, account)
    assert_envelope(
        await upload(http, account, kb["id"], "big.txt", b"word " * 5000, "text/plain"),
        413,
        "PAYLOAD_TOO_LARGE",
    )


async def test_ownership(make_account: Callable[..., Any], client: httpx.AsyncClient) -> None:
    owner: Account = await make_account()
    other: Account = await make_account()
    kb = await make_kb(client, owner)
    doc = await add_text(client, owner, kb["id"], "secret plans")
    h = other.headers()
    for method, path, body in (
        ("GET", f"/knowledge-bases/{kb['id']}", None),
        ("PATCH", f"/knowledge-bases/{kb['id']}", {"name": "x"}),
        ("DELETE", f"/knowledge-bases/{kb['id']}", None),
        ("POST", f"/knowledge-bases/{kb['id']}/query", {"query": "plans"}),
        ("POST", f"/knowledge-bases/{kb['id']}/documents", {"text": "x"}),
        ("GET", f"/knowledge-bases/{kb['id']}/documents", None),
        ("GET", f"/knowledge-bases/{kb['id']}/documents/{doc['id']}", None),
        ("DELETE", f"/knowledge-bases/{kb['id']}/documents/{doc['id']}", None),
        ("POST", f"/knowledge-bases/{kb['id']}/documents/{doc['id']}/reindex", None),
        ("POST", f"/knowledge-bases/{kb['id']}/reindex", {}),
    ):
        assert_envelope(
            await client.request(method, path, json=body, headers=h), 404, "RESOURCE_NOT_FOUND"
        )


async def test_rag_agent_cites_the_right_document(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    kb = await make_kb(client, account)
    await add_text(
        client,
        account,
        kb["id"],
        "Bananas are rich in potassium and grow in the tropics.",
        name="fruit",
    )
    volcano = await add_text(
        client,
        account,
        kb["id"],
        "Mount Etna is an active volcano on the island of Sicily.",
        name="volcanoes",
    )
    agent = (
        await client.post(
            "/agents",
            json={
                "name": "rag",
                "type": "rag",
                "knowledge_base_ids": [kb["id"]],
                "model": {
                    "provider": "scripted",
                    "options": {"script": [{"content": "Etna is in Sicily [1]."}]},
                },
            },
            headers=h,
        )
    ).json()
    run = (
        await client.post(
            f"/agents/{agent['id']}/execute", json={"input_data": "Where is Mount Etna?"}, headers=h
        )
    ).json()
    assert run["status"] == "succeeded" and run["output"] == "Etna is in Sicily [1]."
    assert run["citations"][0]["index"] == 1
    assert (
        run["citations"][0]["document_id"] == volcano["id"]
        and run["citations"][0]["citation"] == "volcanoes.txt"
    )
    steps = (await client.get(f"/runs/{run['id']}", headers=h)).json()["steps"]
    assert [s["kind"] for s in steps] == ["retrieval", "model_call"]
    assert steps[1]["input"]["messages"] == 3  # system, the numbered sources, the question


async def test_knowledge_search_tool(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    h = account.headers()
    kb = await make_kb(client, account)
    await add_text(
        client,
        account,
        kb["id"],
        "The warranty lasts 24 months from the date of purchase.",
        name="warranty",
    )
    script = [
        {
            "tool_calls": [
                {"name": "knowledge_search", "arguments": {"query": "how long is the warranty"}}
            ]
        },
        {"content": "{{last_tool_result}}"},
    ]
    agent = (
        await client.post(
            "/agents",
            json={
                "name": "t",
                "type": "tool",
                "tools": [{"name": "knowledge_search"}],
                "knowledge_base_ids": [kb["id"]],
                "model": {"provider": "scripted", "options": {"script": script}},
            },
            headers=h,
        )
    ).json()
    run = (
        await client.post(
            f"/agents/{agent['id']}/execute", json={"input_data": "warranty?"}, headers=h
        )
    ).json()
    found = json.loads(run["output"])
    assert found[0]["source"] == "warranty.txt" and "24 months" in found[0]["text"]


@pytest.mark.parametrize("strategy", ["recursive", "fixed"])
async def test_chunking_settings_apply(
    make_account: Callable[..., Any], client: httpx.AsyncClient, strategy: str
) -> None:
    account: Account = await make_account()
    kb = await make_kb(client, account, chunking={"strategy": strategy, "size": 40, "overlap": 8})
    text = "\n\n".join(
        f"Paragraph {i}. " + " ".join(f"word{i}x{j}" for j in range(30)) for i in range(6)
    )
    doc = await add_text(client, account, kb["id"], text)
    assert doc["status"] == "indexed" and doc["chunk_count"] >= 6


class HashingEmbedder:
    """A plugin embedder (768 dimensions, deterministic word hashing), registered the way a
    third-party package would register its own."""

    provider = "hashing"
    dimensions = 768

    def __init__(self, model: str) -> None:
        self.model = model

    async def embed(self, texts: Any) -> list[list[float]]:
        import hashlib
        import math

        vectors = []
        for text in texts:
            v = [0.0] * self.dimensions
            for word in text.lower().split():
                v[int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dimensions] += 1.0
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            vectors.append([x / norm for x in v])
        return vectors

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def close(self) -> None:
        return None


@pytest.fixture
def hashing_embedder() -> Any:
    from codexos_server.rag.embed.port import EMBEDDERS

    EMBEDDERS["hashing"] = lambda settings: HashingEmbedder(settings.model)
    yield
    EMBEDDERS.pop("hashing", None)


async def _vector_rows(container: Container, dims: int, kb_id: str) -> int:
    from sqlalchemy import text

    table = "rag_index_entries" if container.db.is_sqlite else f"rag_vectors_{dims}"
    where = f"knowledge_base_id = :kb{' AND dimensions = :dims' if container.db.is_sqlite else ''}"
    async with container.db.read_connection() as conn:
        return int(
            (
                await conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE {where}"), {"kb": kb_id, "dims": dims}
                )
            ).scalar_one()
        )


async def test_reindex_with_another_embedding_model(
    make_account: Callable[..., Any],
    client: httpx.AsyncClient,
    container: Container,
    hashing_embedder: Any,
) -> None:
    account: Account = await make_account()
    h = account.headers()
    kb = await make_kb(client, account)
    a = await add_text(client, account, kb["id"], "Owls hunt at night and sleep by day.")
    b = await add_text(client, account, kb["id"], "Solar panels turn sunlight into electricity.")
    assert await _vector_rows(container, 384, kb["id"]) == a["chunk_count"] + b["chunk_count"]
    r = await client.patch(
        f"/knowledge-bases/{kb['id']}",
        json={"embedding": {"provider": "hashing", "model": "h768"}},
        headers=h,
    )
    assert_envelope(r, 409, "CONFLICT")
    r = await client.post(
        f"/knowledge-bases/{kb['id']}/reindex",
        json={"embedding": {"provider": "hashing", "model": "h768"}},
        headers=h,
    )
    assert (
        r.status_code == 200
        and r.json()["embedding_dimensions"] == 768
        and r.json()["embedding"]["model"] == "h768"
    )
    for doc in (a, b):
        done = await wait_done(client, account, kb["id"], doc["id"])
        assert done["status"] == "indexed"
    assert await _vector_rows(container, 384, kb["id"]) == 0
    assert await _vector_rows(container, 768, kb["id"]) == a["chunk_count"] + b["chunk_count"]
    hit = (
        await client.post(
            f"/knowledge-bases/{kb['id']}/query",
            json={"query": "owls night", "mode": "semantic"},
            headers=h,
        )
    ).json()["results"][0]
    assert hit["document_id"] == a["id"]


async def test_delete_leaves_no_orphans(
    make_account: Callable[..., Any], client: httpx.AsyncClient, container: Container
) -> None:
    from tests.rag.index_rows import index_counts

    account: Account = await make_account()
    h = account.headers()
    kb = await make_kb(client, account)
    keep = await add_text(client, account, kb["id"], "Keep this one about rivers and deltas.")
    drop = await add_text(client, account, kb["id"], "Drop this one about mountains and glaciers.")
    before = await index_counts(container.db)
    assert all(v >= 2 for v in before.values()), before
    assert (
        await client.delete(f"/knowledge-bases/{kb['id']}/documents/{drop['id']}", headers=h)
    ).status_code == 204
    assert all(v == 0 for v in (await index_counts(container.db, drop["id"])).values())
    after = await index_counts(container.db)
    assert all(after[k] == before[k] - drop["chunk_count"] for k in after), (before, after)
    results = (
        await client.post(
            f"/knowledge-bases/{kb['id']}/query", json={"query": "glaciers"}, headers=h
        )
    ).json()["results"]
    assert all(r["document_id"] == keep["id"] for r in results)
    assert (await client.delete(f"/knowledge-bases/{kb['id']}", headers=h)).status_code == 204
    assert all(v == 0 for v in (await index_counts(container.db)).values())
    async with container.db.read_connection() as conn:
        from sqlalchemy import func, select

        from codexos_server.rag.models import Chunk

        assert (await conn.execute(select(func.count()).select_from(Chunk))).scalar_one() == 0
