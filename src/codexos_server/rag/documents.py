"""Documents of a knowledge base: added by upload, as text/JSON, or by URL; listed, read,
deleted (with their chunks and index entries) and re-indexed. Ingestion itself is a job
(pipeline.py)."""

from __future__ import annotations

import builtins
import json
import re
from typing import Any

import anyio
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from codexos_server.auth.principal import Principal
from codexos_server.db.database import Database
from codexos_server.errors import NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from codexos_server.events.bus import EventBus, workspace_channel
from codexos_server.jobs.service import JobService
from codexos_server.netguard import FetchError, SafeHttpClient
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.rag.blobs import BlobStore
from codexos_server.rag.index.port import VectorIndex
from codexos_server.rag.ingest.detect import detect_kind
from codexos_server.rag.ingest.types import UnsupportedType
from codexos_server.rag.models import Chunk, Document, DocumentStatus, KnowledgeBase
from codexos_server.rag.schemas import DocumentOut, TextDocument
from codexos_server.rag.service import INGEST_JOB, KnowledgeBaseService
from codexos_server.workspaces.permissions import Action

_EXTENSIONS = {"txt": ".txt", "md": ".md", "html": ".html", "csv": ".csv", "json": ".json"}


def document_out(doc: Document, duplicate: bool = False) -> DocumentOut:
    return DocumentOut(
        id=doc.id,
        knowledge_base_id=doc.knowledge_base_id,
        name=doc.name,
        kind=doc.kind,
        source=doc.source,
        source_url=doc.source_url,
        size_bytes=doc.size_bytes,
        content_hash=doc.content_hash,
        status=DocumentStatus(doc.status),
        error=doc.error,
        chunk_count=doc.chunk_count,
        title=doc.title,
        tags=list(doc.tags or []),
        metadata=dict(doc.metadata_ or {}),
        job_id=doc.job_id,
        duplicate=duplicate,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
    )


def document_channel(document_id: str) -> str:
    return f"document:{document_id}"


def _name_from_url(url: str) -> str:
    tail = re.sub(r"[?#].*$", "", url.rstrip("/")).rsplit("/", 1)[-1]
    return tail or url


class DocumentService:
    def __init__(
        self,
        db: Database,
        kbs: KnowledgeBaseService,
        blobs: BlobStore,
        index: VectorIndex,
        jobs: JobService,
        events: EventBus,
        http: SafeHttpClient,
        max_bytes: int,
    ) -> None:
        self.db = db
        self.kbs = kbs
        self.blobs = blobs
        self.index = index
        self.jobs = jobs
        self.events = events
        self.http = http
        self.max_bytes = max_bytes

    async def add_file(
        self,
        actor: Principal,
        kb_id: str,
        data: bytes,
        filename: str | None,
        content_type: str | None,
        *,
        tags: builtins.list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        source: str = "upload",
        source_url: str | None = None,
    ) -> tuple[DocumentOut, bool]:
        """Store the original and queue its ingestion. Returns (document, created): the same
        content already in the knowledge base is not stored twice.

        Raises: UnsupportedMediaType (415), PayloadTooLarge (413), NotFound.
        """
        actor.require(Action.WRITE)
        if len(data) > self.max_bytes:
            raise PayloadTooLarge("The document is too large", {"max_bytes": self.max_bytes})
        if not data:
            raise ValidationFailed(
                "The document is empty", [{"field": "file", "message": "is empty"}]
            )
        try:
            kind = await anyio.to_thread.run_sync(detect_kind, filename, content_type, data)
        except UnsupportedType as exc:
            raise UnsupportedMediaType(
                str(exc), {"supported": ["txt", "md", "html", "pdf", "docx", "csv", "json"]}
            ) from exc
        key = await self.blobs.put(data)
        try:
            async with self.db.transaction() as session:
                await self.kbs.load(session, actor.workspace_id, kb_id)
                existing = await session.scalar(
                    select(Document).where(
                        Document.knowledge_base_id == kb_id, Document.content_hash == key
                    )
                )
                if existing is not None:
                    return document_out(existing, duplicate=True), False
                doc = Document(
                    knowledge_base_id=kb_id,
                    workspace_id=actor.workspace_id,
                    name=(filename or "document")[:300],
                    kind=kind,
                    source=source,
                    source_url=source_url,
                    size_bytes=len(data),
                    content_hash=key,
                    blob_key=key,
                    status=DocumentStatus.QUEUED.value,
                    tags=sorted(set(tags or [])),
                    metadata_=metadata or {},
                )
                session.add(doc)
                await session.execute(
                    update(KnowledgeBase)
                    .where(KnowledgeBase.id == kb_id)
                    .values(document_count=KnowledgeBase.document_count + 1)
                )
                await session.flush()
                doc_id = doc.id
        except IntegrityError:  # the same content, added concurrently
            async with self.db.read() as session:
                existing = await session.scalar(
                    select(Document).where(
                        Document.knowledge_base_id == kb_id, Document.content_hash == key
                    )
                )
            if existing is None:
                raise
            return document_out(existing, duplicate=True), False
        await self._queue(actor, doc_id)
        return await self.get(actor, kb_id, doc_id), True

    async def add_text(
        self, actor: Principal, kb_id: str, body: TextDocument
    ) -> tuple[DocumentOut, bool]:
        """A document sent as text or JSON, or fetched from a URL (with the same protection
        against private addresses as the http_request tool)."""
        if body.url is not None:
            url = str(body.url)
            try:
                response = await self.http.fetch(url)
            except FetchError as exc:
                raise ValidationFailed(
                    "The URL cannot be fetched", [{"field": "url", "message": str(exc)}]
                ) from exc
            if response.status >= 400:
                raise ValidationFailed(
                    "The URL cannot be fetched",
                    [{"field": "url", "message": f"HTTP {response.status}"}],
                )
            if response.truncated:
                raise PayloadTooLarge(
                    "The document at this URL is too large",
                    {"max_bytes": self.http.policy.max_response_bytes},
                )
            name = body.name or _name_from_url(response.url)
            return await self.add_file(
                actor,
                kb_id,
                response.content,
                name,
                response.content_type,
                tags=body.tags,
                metadata=body.metadata,
                source="url",
                source_url=url,
            )
        if body.json_content is not None:
            data, fmt = json.dumps(body.json_content, ensure_ascii=False, indent=1).encode(), "json"
        else:
            data, fmt = (body.text or "").encode(), body.format
        name = body.name or f"text{_EXTENSIONS[fmt]}"
        if not name.endswith(_EXTENSIONS[fmt]):
            name += _EXTENSIONS[fmt]
        return await self.add_file(
            actor, kb_id, data, name, None, tags=body.tags, metadata=body.metadata, source="text"
        )

    async def _queue(self, actor: Principal, doc_id: str) -> None:
        job = await self.jobs.enqueue(actor, INGEST_JOB, {"document_id": doc_id})
        async with self.db.transaction() as session:
            await session.execute(
                update(Document).where(Document.id == doc_id).values(job_id=job.id)
            )
        await self.events.publish_many(
            [document_channel(doc_id), workspace_channel(actor.workspace_id)],
            "document.status",
            {"document_id": doc_id, "status": "queued"},
        )

    async def list(
        self, actor: Principal, kb_id: str, params: PageParams, status: DocumentStatus | None = None
    ) -> Page[DocumentOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            await self.kbs.load(session, actor.workspace_id, kb_id)
            stmt = select(Document).where(Document.knowledge_base_id == kb_id)
            if status is not None:
                stmt = stmt.where(Document.status == status.value)
            rows, cursor = await paginate(session, stmt, params, Document.created_at, Document.id)
            return Page(items=[document_out(r[0]) for r in rows], next_cursor=cursor)

    async def get(self, actor: Principal, kb_id: str, doc_id: str) -> DocumentOut:
        actor.require(Action.READ)
        async with self.db.read() as session:
            doc = await session.scalar(
                select(Document).where(
                    Document.id == doc_id,
                    Document.knowledge_base_id == kb_id,
                    Document.workspace_id == actor.workspace_id,
                )
            )
            if doc is None:
                raise NotFound("document", doc_id)
            return document_out(doc)

    async def delete(self, actor: Principal, kb_id: str, doc_id: str) -> None:
        """Delete the document, its chunks and its index entries (and the stored original
        when no other document shares it)."""
        actor.require(Action.WRITE)
        doc = await self.get(actor, kb_id, doc_id)
        async with self.db.write_connection() as conn:
            dims = (
                await conn.execute(
                    select(KnowledgeBase.embedding_dimensions).where(KnowledgeBase.id == kb_id)
                )
            ).scalar_one()
            await self.index.remove_documents(conn, dims, [doc_id])
            await conn.execute(delete(Chunk).where(Chunk.document_id == doc_id))
            await conn.execute(delete(Document).where(Document.id == doc_id))
            await conn.execute(
                update(KnowledgeBase)
                .where(KnowledgeBase.id == kb_id)
                .values(document_count=KnowledgeBase.document_count - 1)
            )
            shared = (
                await conn.execute(
                    select(func.count())
                    .select_from(Document)
                    .where(Document.blob_key == doc.content_hash)
                )
            ).scalar_one()
        if not shared:
            await self.blobs.delete(doc.content_hash)

    async def reindex(self, actor: Principal, kb_id: str, doc_id: str) -> DocumentOut:
        """Ingest the document again from its stored original (e.g. after a failure)."""
        actor.require(Action.WRITE)
        await self.get(actor, kb_id, doc_id)
        async with self.db.write_connection() as conn:
            dims = (
                await conn.execute(
                    select(KnowledgeBase.embedding_dimensions).where(KnowledgeBase.id == kb_id)
                )
            ).scalar_one()
            await self.index.remove_documents(conn, dims, [doc_id])
            await conn.execute(delete(Chunk).where(Chunk.document_id == doc_id))
            await conn.execute(
                update(Document)
                .where(Document.id == doc_id)
                .values(status=DocumentStatus.QUEUED.value, error=None, chunk_count=0)
            )
        await self._queue(actor, doc_id)
        return await self.get(actor, kb_id, doc_id)
