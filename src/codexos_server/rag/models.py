"""Knowledge base, document and chunk tables. Vectors and keyword indexes live in the index
adapter's tables (see index/), keyed by chunk id."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codexos_server.db.base import Base, IdMixin, JSONType, TimestampMixin


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    PARSING = "parsing"
    EMBEDDING = "embedding"
    INDEXED = "indexed"
    FAILED = "failed"


class KnowledgeBase(IdMixin, TimestampMixin, Base):
    __tablename__ = "knowledge_bases"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    embedding_provider: Mapped[str] = mapped_column(String(64))
    embedding_model: Mapped[str] = mapped_column(String(200))
    embedding_dimensions: Mapped[int] = mapped_column(Integer)
    chunking: Mapped[dict[str, Any]] = mapped_column(JSONType)
    retrieval: Mapped[dict[str, Any]] = mapped_column(JSONType)
    document_count: Mapped[int] = mapped_column(Integer, default=0)


class Document(IdMixin, TimestampMixin, Base):
    __tablename__ = "rag_documents"
    __table_args__ = (UniqueConstraint("knowledge_base_id", "content_hash"),)

    knowledge_base_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(8))  # txt md html pdf docx csv json
    source: Mapped[str] = mapped_column(String(8))  # upload | text | url
    source_url: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=DocumentStatus.QUEUED.value)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str | None] = mapped_column(String(500))
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    job_id: Mapped[str | None] = mapped_column(String(36))
    embedding_model: Mapped[str | None] = mapped_column(String(200))  # what its chunks used


class Chunk(IdMixin, TimestampMixin, Base):
    __tablename__ = "rag_chunks"
    __table_args__ = (Index("ix_rag_chunks_document_position", "document_id", "position"),)

    knowledge_base_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    document_id: Mapped[str] = mapped_column(ForeignKey("rag_documents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    heading_path: Mapped[list[str]] = mapped_column(JSONType, default=list)
    page: Mapped[int | None] = mapped_column(Integer)
