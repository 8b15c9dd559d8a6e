"""Knowledge base, document and query API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from codexos_server.rag.models import DocumentStatus

RetrievalMode = Literal["semantic", "keyword", "hybrid"]


class ChunkingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: Literal["recursive", "fixed"] = Field(
        default="recursive",
        description="`recursive`: by headings, paragraphs, sentences; `fixed`: by size",
    )
    size: int = Field(default=256, ge=32, le=4096, description="Target tokens per chunk")
    overlap: int = Field(
        default=32, ge=0, le=1024, description="Tokens shared by neighbouring chunks"
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingSettings:
        if self.overlap >= self.size:
            raise ValueError("overlap must be smaller than size")
        return self


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: RetrievalMode = "hybrid"
    top_k: int = Field(default=5, ge=1, le=100)
    semantic_weight: float = Field(
        default=1.0, ge=0, le=10, description="Weight in the rank fusion"
    )
    keyword_weight: float = Field(default=1.0, ge=0, le=10)
    min_score: float | None = Field(default=None, description="Drop results scoring below this")


class EmbeddingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        default="local", max_length=64, description="`local`, `openai` or a workspace provider"
    )
    model: str | None = Field(
        default=None, max_length=200, description="Default: the provider's default"
    )


class KnowledgeBaseCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Product docs", "description": "Manuals and FAQs"}]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)


class KnowledgeBaseUpdate(BaseModel):
    """Chunking changes apply to documents ingested afterwards (re-index to apply them to all);
    the embedding model changes only through `POST /knowledge-bases/{id}/reindex`."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    embedding: EmbeddingSettings | None = None
    chunking: ChunkingSettings | None = None
    retrieval: RetrievalSettings | None = None


class KnowledgeBaseOut(BaseModel):
    id: str
    name: str
    description: str | None
    embedding: EmbeddingSettings
    embedding_dimensions: int
    chunking: ChunkingSettings
    retrieval: RetrievalSettings
    document_count: int
    created_at: datetime
    updated_at: datetime


class ReindexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embedding: EmbeddingSettings | None = Field(
        default=None, description="A new embedding model, if any"
    )


class TextDocument(BaseModel):
    """A document sent as a JSON body: text (or a JSON value), or a URL to fetch."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=300)
    text: str | None = Field(default=None, max_length=20_000_000)
    json_content: Any = Field(default=None, alias="json")
    format: Literal["txt", "md", "html", "csv", "json"] = "txt"
    url: HttpUrl | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> TextDocument:
        given = [v is not None for v in (self.text, self.json_content, self.url)]
        if sum(given) != 1:
            raise ValueError("send exactly one of text, json or url")
        return self


class DocumentOut(BaseModel):
    id: str
    knowledge_base_id: str
    name: str
    kind: str
    source: str
    source_url: str | None
    size_bytes: int
    content_hash: str
    status: DocumentStatus
    error: dict[str, Any] | None
    chunk_count: int
    title: str | None
    tags: list[str]
    metadata: dict[str, Any]
    job_id: str | None
    duplicate: bool = Field(
        default=False, description="True if this content was already in the knowledge base"
    )
    created_at: datetime
    updated_at: datetime


class QueryFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_ids: list[str] = Field(default_factory=list, max_length=1000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="key: value, or key: [values]"
    )


class QueryRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"query": "How do I reset my password?"}]}
    )

    query: str = Field(min_length=1, max_length=10_000)
    mode: RetrievalMode | None = None
    top_k: int | None = Field(default=None, ge=1, le=100)
    min_score: float | None = None
    filters: QueryFilters = Field(default_factory=QueryFilters)


class QueryResult(BaseModel):
    chunk_id: str
    document_id: str
    document_name: str
    position: int
    page: int | None
    heading_path: list[str]
    text: str
    score: float
    citation: str


class QueryResponse(BaseModel):
    results: list[QueryResult]
    mode: RetrievalMode
