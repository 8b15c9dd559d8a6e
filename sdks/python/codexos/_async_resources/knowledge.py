"""Knowledge bases: documents (file uploads or text) and queries."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Sequence
from typing import Any

from codexos._core import FileInput, compact, read_file
from codexos._resource import AsyncResource
from codexos.pagination import AsyncPaginator
from codexos.types import Document, KnowledgeBase, QueryResult


class AsyncKnowledgeBases(AsyncResource):
    async def create(
        self, name: str, *, description: str | None = None, **settings: Any
    ) -> KnowledgeBase:
        """`settings`: `embedding`, `chunking`, `retrieval` objects as the API takes them."""
        body = compact(name=name, description=description, **settings)
        return await self._client._call(KnowledgeBase, "POST", "/knowledge-bases", json_body=body)

    def list(self, *, limit: int | None = None) -> AsyncPaginator[KnowledgeBase]:
        return self._client._list(KnowledgeBase, "/knowledge-bases", compact(limit=limit))

    async def retrieve(self, kb_id: str) -> KnowledgeBase:
        return await self._client._call(KnowledgeBase, "GET", f"/knowledge-bases/{kb_id}")

    async def update(self, kb_id: str, **fields: Any) -> KnowledgeBase:
        path = f"/knowledge-bases/{kb_id}"
        return await self._client._call(KnowledgeBase, "PATCH", path, json_body=fields)

    async def delete(self, kb_id: str) -> None:
        await self._client._call_none("DELETE", f"/knowledge-bases/{kb_id}")

    async def upload(
        self,
        kb_id: str,
        file: FileInput,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Document:
        """Upload a file (a path, bytes or a binary file object); ingestion runs in the
        background: follow `status` with `retrieve_document`."""
        name, content = read_file(file, filename)
        mime = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        data = {"tags": ",".join(tags or []), "metadata": json.dumps(metadata or {})}
        return await self._client._call(
            Document,
            "POST",
            f"/knowledge-bases/{kb_id}/documents",
            files={"file": (name, content, mime)},
            data=data,
        )

    async def add_text(
        self,
        kb_id: str,
        text: str,
        *,
        name: str | None = None,
        format: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Document:
        """Add a document from a string (`format`: txt, md, html, csv or json)."""
        body = compact(
            text=text, name=name, format=format, tags=list(tags or []), metadata=metadata
        )
        path = f"/knowledge-bases/{kb_id}/documents"
        return await self._client._call(Document, "POST", path, json_body=body)

    def documents(
        self, kb_id: str, *, status: str | None = None, limit: int | None = None
    ) -> AsyncPaginator[Document]:
        path = f"/knowledge-bases/{kb_id}/documents"
        return self._client._list(Document, path, compact(status=status, limit=limit))

    async def retrieve_document(self, kb_id: str, doc_id: str) -> Document:
        path = f"/knowledge-bases/{kb_id}/documents/{doc_id}"
        return await self._client._call(Document, "GET", path)

    async def delete_document(self, kb_id: str, doc_id: str) -> None:
        await self._client._call_none("DELETE", f"/knowledge-bases/{kb_id}/documents/{doc_id}")

    async def query(
        self,
        kb_id: str,
        query: str,
        *,
        mode: str | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
        filters: dict[str, Any] | None = None,
    ) -> QueryResult:
        """Search the knowledge base (`mode`: hybrid, vector or keyword)."""
        body = compact(query=query, mode=mode, top_k=top_k, min_score=min_score, filters=filters)
        path = f"/knowledge-bases/{kb_id}/query"
        return await self._client._call(QueryResult, "POST", path, json_body=body)

    async def reindex(
        self, kb_id: str, *, embedding: dict[str, Any] | None = None
    ) -> KnowledgeBase:
        """Re-embed every document (optionally with new `embedding` settings) in the background."""
        path = f"/knowledge-bases/{kb_id}/reindex"
        return await self._client._call(
            KnowledgeBase, "POST", path, json_body=compact(embedding=embedding)
        )

    async def reindex_document(self, kb_id: str, doc_id: str) -> Document:
        path = f"/knowledge-bases/{kb_id}/documents/{doc_id}/reindex"
        return await self._client._call(Document, "POST", path)
