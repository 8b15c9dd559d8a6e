"""Documents over HTTP: every supported type parsed and indexed, bad files failing their
own document (never the server), and ingestion from a URL. Real embeddings, real index."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.api.test_knowledge import make_kb, upload, wait_done
from tests.conftest import Account, assert_envelope

HTML = b"""<html><head><title>Garden guide</title><style>.x{color:red}</style><script>var secret = 'scriptonly';</script></head>
<body><nav>menu</nav><h1>Roses</h1><p>Roses need six hours of sun every day.</p><h2>Pruning</h2><p>Prune roses in late winter.</p></body></html>"""


async def test_every_supported_type(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    from tests.rag import files

    account: Account = await make_account()
    kb = await make_kb(client, account)
    cases = {
        "guide.pdf": (
            files.pdf(
                [
                    "The lighthouse keeper logs the weather at dawn. " * 12,
                    "Page two covers the fog horn maintenance and the brass fittings. " * 12,
                ]
            ),
            "application/pdf",
        ),
        "manual.docx": (
            files.docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        "garden.html": (HTML, "text/html"),
        "notes.md": (b"# Notes\n\n## Tea\n\nGreen tea is steeped at 80 degrees.", "text/markdown"),
        "stock.csv": (b"sku,name,qty\nAB-1,bolts,40\nCD-2,nuts,15\n", "text/csv"),
        "config.json": (
            b'{"service": {"port": 8443, "owner": "platform team"}}',
            "application/json",
        ),
        "plain.txt": (b"Just some plain words about kayaks.", "text/plain"),
    }
    docs = {}
    for name, (data, content_type) in cases.items():
        r = await upload(
            client,
            account,
            kb["id"],
            name,
            data,
            content_type,
            tags="t1,t2",
            metadata='{"team": "docs"}',
        )
        assert r.status_code == 201, (name, r.text)
        docs[name] = await wait_done(client, account, kb["id"], r.json()["id"])
        assert docs[name]["status"] == "indexed", (name, docs[name])
        assert (
            docs[name]["chunk_count"] >= 1
            and docs[name]["tags"] == ["t1", "t2"]
            and docs[name]["metadata"] == {"team": "docs"}
        )
    assert docs["guide.pdf"]["kind"] == "pdf" and docs["guide.pdf"]["title"] == "Field Guide"
    hit = (
        await client.post(
            f"/knowledge-bases/{kb['id']}/query",
            json={"query": "fog horn maintenance"},
            headers=account.headers(),
        )
    ).json()["results"][0]
    assert (
        hit["document_id"] == docs["guide.pdf"]["id"]
        and hit["page"] == 2
        and "p. 2" in hit["citation"]
    )
    rose = (
        await client.post(
            f"/knowledge-bases/{kb['id']}/query",
            json={
                "query": "when to prune roses",
                "filters": {"document_ids": [docs["garden.html"]["id"]]},
            },
            headers=account.headers(),
        )
    ).json()["results"]
    assert rose and all(r["document_id"] == docs["garden.html"]["id"] for r in rose)
    assert "scriptonly" not in json.dumps(rose) and "color:red" not in json.dumps(rose)
    assert any("Roses" in r["heading_path"] for r in rose)
    tagged = (
        await client.post(
            f"/knowledge-bases/{kb['id']}/query",
            json={
                "query": "kayaks",
                "filters": {"tags": ["t1"], "metadata": {"team": ["docs", "other"]}},
            },
            headers=account.headers(),
        )
    ).json()["results"]
    assert tagged
    none = (
        await client.post(
            f"/knowledge-bases/{kb['id']}/query",
            json={"query": "kayaks", "filters": {"metadata": {"team": "nobody"}}},
            headers=account.headers(),
        )
    ).json()["results"]
    assert none == []


async def test_bad_files_fail_their_document_not_the_server(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    from tests.rag import files

    account: Account = await make_account()
    kb = await make_kb(client, account)
    for name, data in (
        ("broken.pdf", files.truncated_pdf()),
        ("bomb.docx", files.docx_bomb()),
        ("locked.pdf", files.encrypted_pdf("pw")),
    ):
        r = await upload(client, account, kb["id"], name, data)
        assert r.status_code == 201, (name, r.text)
        doc = await wait_done(client, account, kb["id"], r.json()["id"])
        assert (
            doc["status"] == "failed"
            and doc["error"]["type"] == "invalid_document"
            and doc["error"]["message"]
        ), (name, doc)
    assert (await client.get("/health")).status_code == 200
    failed = (
        await client.get(
            f"/knowledge-bases/{kb['id']}/documents",
            params={"status": "failed"},
            headers=account.headers(),
        )
    ).json()["items"]
    assert len(failed) == 3


async def test_url_ingestion(client_factory: Callable[..., Any]) -> None:
    from tests.agents.local_http_server import LocalHTTPServer
    from tests.conftest import register

    http = await client_factory(http_allowed_hosts=["127.0.0.1"])
    account = await register(http)
    kb = await make_kb(http, account)
    async with LocalHTTPServer() as server:
        r = await http.post(
            f"/knowledge-bases/{kb['id']}/documents",
            json={"url": f"{server.base}/json"},
            headers=account.headers(),
        )
        assert r.status_code == 201, r.text
        doc = await wait_done(http, account, kb["id"], r.json()["id"])
        assert doc["status"] == "indexed" and doc["source"] == "url" and doc["kind"] == "json"
    r = await http.post(
        f"/knowledge-bases/{kb['id']}/documents",
        json={"url": "http://10.0.0.1/secret.txt"},
        headers=account.headers(),
    )
    assert_envelope(r, 422, "VALIDATION_ERROR")
