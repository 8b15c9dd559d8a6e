"""Knowledge bases: create, read, update, delete, query, re-index."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.principal import Principal
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound, ValidationFailed
from codexos_server.jobs.service import JobService
from codexos_server.llm.port import ModelUnavailable
from codexos_server.monitoring.tracing import retrieval_span, set_attributes
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.rag.embed.port import Embedder, EmbeddingError
from codexos_server.rag.embedders import EmbedderRegistry
from codexos_server.rag.index.port import SUPPORTED_DIMENSIONS, Filters, VectorIndex
from codexos_server.rag.models import Chunk, Document, DocumentStatus, KnowledgeBase
from codexos_server.rag.schemas import (
    EmbeddingSettings,
    KnowledgeBaseCreate,
    KnowledgeBaseOut,
    KnowledgeBaseUpdate,
    QueryRequest,
    QueryResponse,
    QueryResult,
    ReindexRequest,
)
from codexos_server.rag.search import Retrieved, retrieve
from codexos_server.workspaces.permissions import Action

INGEST_JOB = "rag.ingest"


def kb_out(kb: KnowledgeBase) -> KnowledgeBaseOut:
    return KnowledgeBaseOut(
        id=kb.id,
        name=kb.name,
        description=kb.description,
        embedding=EmbeddingSettings(provider=kb.embedding_provider, model=kb.embedding_model),
        embedding_dimensions=kb.embedding_dimensions,
        chunking=kb.chunking,
        retrieval=kb.retrieval,
        document_count=kb.document_count,
        created_at=kb.created_at,
        updated_at=kb.updated_at,
    )


def citation_of(hit: Retrieved) -> str:
    """`Name, p. 3 — Chapter > Section`: where a reader finds the passage."""
    parts = [hit.document_name]
    if hit.page:
        parts.append(f"p. {hit.page}")
    text = ", ".join(parts)
    if hit.heading_path:
        text += " — " + " > ".join(hit.heading_path)
    return text


class KnowledgeBaseService:
    def __init__(
        self, db: Database, embedders: EmbedderRegistry, index: VectorIndex, jobs: JobService
    ) -> None:
        self.db = db
        self.embedders = embedders
        self.index = index
        self.jobs = jobs

    async def load(self, session: AsyncSession, workspace_id: str, kb_id: str) -> KnowledgeBase:
        """Raises: NotFound for a knowledge base outside the workspace."""
        kb = await session.scalar(
            select(KnowledgeBase).where(
                KnowledgeBase.id == kb_id, KnowledgeBase.workspace_id == workspace_id
            )
        )
        if kb is None:
            raise NotFound("knowledge base", kb_id)
        return kb

    async def _dimensions(self, workspace_id: str, embedding: EmbeddingSettings) -> tuple[str, int]:
        """The embedding model name and its dimensions. Raises: ValidationFailed."""
        model = embedding.model or self.embedders.default_model(embedding.provider)
        try:
            embedder = await self.embedders.get(workspace_id, embedding.provider, model)
            dims = embedder.dimensions or len((await embedder.embed(["dimension probe"]))[0])
        except (ModelUnavailable, EmbeddingError) as exc:
            raise ValidationFailed(
                "The embedding model is not available",
                [{"field": "embedding", "message": str(getattr(exc, "message", exc))}],
            ) from exc
        if dims not in SUPPORTED_DIMENSIONS:
            raise ValidationFailed(
                "Unsupported embedding size",
                [
                    {
                        "field": "embedding.model",
                        "message": f"{dims} dimensions; supported: {list(SUPPORTED_DIMENSIONS)}",
                    }
                ],
            )
        return model, dims

    async def create(self, actor: Principal, body: KnowledgeBaseCreate) -> KnowledgeBaseOut:
        actor.require(Action.WRITE)
        model, dims = await self._dimensions(actor.workspace_id, body.embedding)
        async with self.db.transaction() as session:
            kb = KnowledgeBase(
                workspace_id=actor.workspace_id,
                created_by=actor.user_id,
                name=body.name,
                description=body.description,
                embedding_provider=body.embedding.provider,
                embedding_model=model,
                embedding_dimensions=dims,
                chunking=body.chunking.model_dump(),
                retrieval=body.retrieval.model_dump(),
            )
            session.add(kb)
            await session.flush()
            return kb_out(kb)

    async def list(self, actor: Principal, params: PageParams) -> Page[KnowledgeBaseOut]:
        actor.require(Action.READ)
        async with self.db.read() as session:
            stmt = select(KnowledgeBase).where(KnowledgeBase.workspace_id == actor.workspace_id)
            rows, cursor = await paginate(
                session, stmt, params, KnowledgeBase.created_at, KnowledgeBase.id
            )
            return Page(items=[kb_out(r[0]) for r in rows], next_cursor=cursor)

    async def get(self, actor: Principal, kb_id: str) -> KnowledgeBaseOut:
        actor.require(Action.READ)
        async with self.db.read() as session:
            return kb_out(await self.load(session, actor.workspace_id, kb_id))

    async def update(
        self, actor: Principal, kb_id: str, body: KnowledgeBaseUpdate
    ) -> KnowledgeBaseOut:
        """Raises: Conflict when changing the embedding model of a knowledge base that has
        documents (re-index instead)."""
        actor.require(Action.WRITE)
        new_model: tuple[str, int] | None = None
        if body.embedding is not None:
            new_model = await self._dimensions(actor.workspace_id, body.embedding)
        async with self.db.transaction() as session:
            kb = await self.load(session, actor.workspace_id, kb_id)
            if body.embedding is not None and new_model is not None:
                changed = (body.embedding.provider, new_model[0]) != (
                    kb.embedding_provider,
                    kb.embedding_model,
                )
                if changed and kb.document_count:
                    raise Conflict(
                        "The embedding model is fixed once documents exist; "
                        "use POST /knowledge-bases/{id}/reindex to change it"
                    )
                kb.embedding_provider, (kb.embedding_model, kb.embedding_dimensions) = (
                    body.embedding.provider,
                    new_model,
                )
            if body.name is not None:
                kb.name = body.name
            if body.description is not None:
                kb.description = body.description
            if body.chunking is not None:
                kb.chunking = body.chunking.model_dump()
            if body.retrieval is not None:
                kb.retrieval = body.retrieval.model_dump()
            await session.flush()
            return kb_out(kb)

    async def delete(self, actor: Principal, kb_id: str) -> None:
        """Delete the knowledge base, its documents, chunks and index entries."""
        actor.require(Action.WRITE)
        async with self.db.write_connection() as conn:
            kb = (
                await conn.execute(
                    select(KnowledgeBase.embedding_dimensions).where(
                        KnowledgeBase.id == kb_id, KnowledgeBase.workspace_id == actor.workspace_id
                    )
                )
            ).first()
            if kb is None:
                raise NotFound("knowledge base", kb_id)
            doc_ids = [
                r[0]
                for r in await conn.execute(
                    select(Document.id).where(Document.knowledge_base_id == kb_id)
                )
            ]
            if doc_ids:
                await self.index.remove_documents(conn, kb[0], doc_ids)
            await conn.execute(delete(KnowledgeBase).where(KnowledgeBase.id == kb_id))

    async def reindex(self, actor: Principal, kb_id: str, body: ReindexRequest) -> KnowledgeBaseOut:
        """Re-ingest every document from its stored original, optionally with a new
        embedding model: old vectors go, new ones are computed by background jobs."""
        actor.require(Action.WRITE)
        new_model = (
            await self._dimensions(actor.workspace_id, body.embedding) if body.embedding else None
        )
        async with self.db.write_connection() as conn:
            kb = (
                await conn.execute(
                    select(KnowledgeBase).where(
                        KnowledgeBase.id == kb_id, KnowledgeBase.workspace_id == actor.workspace_id
                    )
                )
            ).first()
            if kb is None:
                raise NotFound("knowledge base", kb_id)
            doc_ids = [
                r[0]
                for r in await conn.execute(
                    select(Document.id).where(Document.knowledge_base_id == kb_id)
                )
            ]
            if doc_ids:
                await self.index.remove_documents(conn, kb.embedding_dimensions, doc_ids)
                await conn.execute(
                    update(Document)
                    .where(Document.id.in_(doc_ids))
                    .values(status=DocumentStatus.QUEUED.value, error=None, chunk_count=0)
                )
                await conn.execute(delete(Chunk).where(Chunk.document_id.in_(doc_ids)))
            if new_model is not None and body.embedding is not None:
                await conn.execute(
                    update(KnowledgeBase)
                    .where(KnowledgeBase.id == kb_id)
                    .values(
                        embedding_provider=body.embedding.provider,
                        embedding_model=new_model[0],
                        embedding_dimensions=new_model[1],
                    )
                )
        for doc_id in doc_ids:
            job = await self.jobs.enqueue(actor, INGEST_JOB, {"document_id": doc_id})
            async with self.db.transaction() as session:
                await session.execute(
                    update(Document).where(Document.id == doc_id).values(job_id=job.id)
                )
        return await self.get(actor, kb_id)

    async def query(self, actor: Principal, kb_id: str, body: QueryRequest) -> QueryResponse:
        actor.require(Action.READ)
        async with self.db.read() as session:
            kb = await self.load(session, actor.workspace_id, kb_id)
        settings: dict[str, Any] = kb.retrieval or {}
        mode = body.mode or settings.get("mode", "hybrid")
        hits = await self.search(
            kb,
            body.query,
            mode=mode,
            top_k=body.top_k or int(settings.get("top_k", 5)),
            min_score=body.min_score if body.min_score is not None else settings.get("min_score"),
            filters=Filters(
                document_ids=tuple(body.filters.document_ids),
                tags=tuple(body.filters.tags),
                metadata=dict(body.filters.metadata),
            ),
        )
        return QueryResponse(
            mode=mode,
            results=[
                QueryResult(
                    chunk_id=h.chunk_id,
                    document_id=h.document_id,
                    document_name=h.document_name,
                    position=h.position,
                    page=h.page,
                    heading_path=list(h.heading_path),
                    text=h.text,
                    score=h.score,
                    citation=citation_of(h),
                )
                for h in hits
            ],
        )

    async def embedder_for(self, kb: KnowledgeBase) -> Embedder:
        return await self.embedders.get(kb.workspace_id, kb.embedding_provider, kb.embedding_model)

    async def search(
        self,
        kb: KnowledgeBase,
        query: str,
        *,
        mode: str,
        top_k: int,
        min_score: float | None,
        filters: Filters,
    ) -> builtins.list[Retrieved]:
        """Retrieval over one knowledge base (also used by rag agents and knowledge_search)."""
        settings: dict[str, Any] = kb.retrieval or {}
        with retrieval_span(kb.id, mode, top_k) as traced:
            hits = await retrieve(
                self.db,
                self.index,
                await self.embedder_for(kb),
                kb.id,
                kb.embedding_dimensions,
                query,
                mode=mode,  # type: ignore[arg-type]
                top_k=top_k,
                semantic_weight=float(settings.get("semantic_weight", 1.0)),
                keyword_weight=float(settings.get("keyword_weight", 1.0)),
                min_score=min_score,
                filters=filters,
            )
            set_attributes(traced, {"codexos.retrieval.hits": len(hits)})
        return hits

    async def search_many(
        self, workspace_id: str, kb_ids: builtins.list[str], query: str, top_k: int | None = None
    ) -> builtins.list[tuple[Retrieved, str]]:
        """The best chunks across several knowledge bases of a workspace (those that are not
        in the workspace are ignored), each with its citation string."""
        async with self.db.read() as session:
            kbs = (
                await session.scalars(
                    select(KnowledgeBase).where(
                        KnowledgeBase.workspace_id == workspace_id, KnowledgeBase.id.in_(kb_ids)
                    )
                )
            ).all()
        found: builtins.list[Retrieved] = []
        for kb in kbs:
            settings: dict[str, Any] = kb.retrieval or {}
            found += await self.search(
                kb,
                query,
                mode=settings.get("mode", "hybrid"),
                top_k=top_k or int(settings.get("top_k", 5)),
                min_score=settings.get("min_score"),
                filters=Filters(),
            )
        found.sort(key=lambda h: h.score, reverse=True)
        limit = top_k or max((int((kb.retrieval or {}).get("top_k", 5)) for kb in kbs), default=5)
        return [(h, citation_of(h)) for h in found[:limit]]
