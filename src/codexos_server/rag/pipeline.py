"""Document ingestion as a job: parse → chunk → embed (batched) → index, with a status per
document (`queued` → `parsing` → `embedding` → `indexed` | `failed`) and `document.progress`
events carrying done/total chunks.

Chunks are written batch by batch as they are embedded, so memory stays flat however long
the document; queries only see the chunks of `indexed` documents. A retried attempt starts by
removing whatever an earlier attempt wrote.
"""

from __future__ import annotations

from typing import Any

import anyio
from sqlalchemy import delete, insert, select, update

from codexos_server.db.base import new_id, utcnow
from codexos_server.db.database import Database
from codexos_server.events.bus import EventBus, workspace_channel
from codexos_server.jobs.context import JobContext, JobFailed
from codexos_server.jobs.registry import job_kind
from codexos_server.log import get_logger
from codexos_server.monitoring.prometheus import metrics_of
from codexos_server.rag.blobs import BlobStore
from codexos_server.rag.documents import document_channel
from codexos_server.rag.index.port import VectorIndex
from codexos_server.rag.ingest.chunkers import chunk
from codexos_server.rag.ingest.parsers import parse
from codexos_server.rag.ingest.types import IngestError
from codexos_server.rag.models import Chunk, Document, DocumentStatus, KnowledgeBase
from codexos_server.rag.service import INGEST_JOB, KnowledgeBaseService

log = get_logger("codexos.rag")


class IngestionPipeline:
    def __init__(
        self,
        db: Database,
        kbs: KnowledgeBaseService,
        blobs: BlobStore,
        index: VectorIndex,
        events: EventBus,
        max_chars: int,
        batch_size: int,
    ) -> None:
        self.db = db
        self.kbs = kbs
        self.blobs = blobs
        self.index = index
        self.events = events
        self.max_chars = max_chars
        self.batch_size = batch_size

    async def _status(self, doc_id: str, status: DocumentStatus, **values: Any) -> None:
        rows, _ = await self.db.execute_one(
            update(Document)
            .where(Document.id == doc_id)
            .values(status=status.value, **values)
            .returning(Document.workspace_id)
        )
        data = {"document_id": doc_id, "status": status.value}
        if "error" in values:
            data["error"] = values["error"]
        channels = [document_channel(doc_id)] + [workspace_channel(r[0]) for r in rows]
        await self.events.publish_many(channels, "document.status", data)

    async def run(self, document_id: str, ctx: JobContext | None = None) -> dict[str, Any]:
        """Ingest one document. Raises: JobFailed (permanent for bad documents)."""
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Document, KnowledgeBase)
                    .join(KnowledgeBase, KnowledgeBase.id == Document.knowledge_base_id)
                    .where(Document.id == document_id)
                )
            ).first()
        if row is None:
            return {"document_id": document_id, "skipped": "deleted"}
        doc, kb = row
        if doc.status == DocumentStatus.INDEXED.value:
            return {"document_id": document_id, "skipped": "already indexed"}
        try:
            return await self._ingest(doc, kb, ctx)
        except IngestError as exc:
            await self._status(
                document_id,
                DocumentStatus.FAILED,
                error={"type": "invalid_document", "message": str(exc)},
            )
            raise JobFailed(str(exc), retry=False) from exc
        except JobFailed:
            raise
        except Exception as exc:
            final = ctx is None or ctx.attempt >= ctx.max_attempts
            error = {"type": type(exc).__name__, "message": str(exc)[:500], "retrying": not final}
            log.warning(
                "ingestion attempt failed", document_id=document_id, error=repr(exc), final=final
            )
            await self._status(
                document_id, DocumentStatus.FAILED if final else DocumentStatus.QUEUED, error=error
            )
            raise

    async def _ingest(
        self, doc: Document, kb: KnowledgeBase, ctx: JobContext | None
    ) -> dict[str, Any]:
        await self._status(doc.id, DocumentStatus.PARSING, error=None)
        data = await self.blobs.get(doc.blob_key)
        parsed = await anyio.to_thread.run_sync(
            lambda: parse(doc.kind, data, max_chars=self.max_chars)
        )
        embedder = await self.kbs.embedder_for(kb)
        settings = kb.chunking or {}
        drafts = await anyio.to_thread.run_sync(
            lambda: chunk(
                parsed,
                strategy=settings.get("strategy", "recursive"),
                size=int(settings.get("size", 256)),
                overlap=int(settings.get("overlap", 32)),
                count_tokens=embedder.count_tokens,
            )
        )
        if not drafts:
            raise IngestError("the document has no text to index")
        await self._status(doc.id, DocumentStatus.EMBEDDING, title=parsed.title)
        async with self.db.write_connection() as conn:  # an earlier attempt's leftovers
            await self.index.remove_documents(conn, kb.embedding_dimensions, [doc.id])
            await conn.execute(delete(Chunk).where(Chunk.document_id == doc.id))
        total = len(drafts)
        channel = document_channel(doc.id)
        for start in range(0, total, self.batch_size):
            if ctx is not None:
                ctx.check_cancelled()
            batch = drafts[start : start + self.batch_size]
            vectors = await embedder.embed([d.text for d in batch])
            ids = [new_id() for _ in batch]
            now = utcnow()
            rows = [
                {
                    "id": chunk_id,
                    "knowledge_base_id": kb.id,
                    "document_id": doc.id,
                    "position": d.position,
                    "text": d.text,
                    "token_count": d.token_count,
                    "heading_path": list(d.heading_path),
                    "page": d.page,
                    "created_at": now,
                    "updated_at": now,
                }
                for chunk_id, d in zip(ids, batch, strict=True)
            ]
            async with self.db.write_connection() as conn:
                await conn.execute(insert(Chunk), rows)
                await self.index.add(
                    conn, kb.id, kb.embedding_dimensions, ids, vectors, [d.text for d in batch]
                )
            done = min(total, start + len(batch))
            await self.events.publish(
                channel, "document.progress", {"document_id": doc.id, "done": done, "total": total}
            )
        await self._status(
            doc.id,
            DocumentStatus.INDEXED,
            chunk_count=total,
            embedding_model=kb.embedding_model,
            error=None,
        )
        return {"document_id": doc.id, "chunks": total}


@job_kind(INGEST_JOB, timeout=3600, max_attempts=3, backoff_base=2.0)
async def ingest_document(ctx: JobContext) -> dict[str, Any]:
    pipeline: IngestionPipeline = ctx.services.ingestion
    result = await pipeline.run(str(ctx.payload["document_id"]), ctx)
    if "chunks" in result:  # not skipped (deleted, or indexed by an earlier attempt)
        metrics_of(ctx.services).document_ingested(int(result["chunks"]))
    return result
