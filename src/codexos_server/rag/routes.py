"""Knowledge base endpoints: CRUD, documents (upload, text, URL), query, re-index."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.errors import ValidationFailed
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep
from codexos_server.rag.documents import DocumentService
from codexos_server.rag.models import DocumentStatus
from codexos_server.rag.schemas import (
    DocumentOut,
    KnowledgeBaseCreate,
    KnowledgeBaseOut,
    KnowledgeBaseUpdate,
    QueryRequest,
    QueryResponse,
    ReindexRequest,
    TextDocument,
)
from codexos_server.rag.service import KnowledgeBaseService

router = APIRouter(prefix="/knowledge-bases", tags=["knowledge"])


async def _kbs(request: Request) -> KnowledgeBaseService:
    return get_container(request).knowledge_bases


async def _docs(request: Request) -> DocumentService:
    return get_container(request).documents


KBServiceDep = Annotated[KnowledgeBaseService, Depends(_kbs)]
DocServiceDep = Annotated[DocumentService, Depends(_docs)]
Reader = Annotated[Principal, scoped("knowledge:read")]
Writer = Annotated[Principal, scoped("knowledge:write")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="knowledge_bases_create",
    summary="Create a knowledge base",
    responses=errors(403),
)
async def create_kb(
    body: KnowledgeBaseCreate, kbs: KBServiceDep, principal: Writer
) -> KnowledgeBaseOut:
    return await kbs.create(principal, body)


@router.get("", operation_id="knowledge_bases_list", summary="List knowledge bases")
async def list_kbs(
    kbs: KBServiceDep, page: PageParamsDep, principal: Reader
) -> Page[KnowledgeBaseOut]:
    return await kbs.list(principal, page)


@router.get(
    "/{kb_id}",
    operation_id="knowledge_bases_get",
    summary="Get a knowledge base",
    responses=errors(404),
)
async def get_kb(kb_id: str, kbs: KBServiceDep, principal: Reader) -> KnowledgeBaseOut:
    return await kbs.get(principal, kb_id)


@router.patch(
    "/{kb_id}",
    operation_id="knowledge_bases_update",
    summary="Update a knowledge base",
    responses=errors(403, 404, 409),
)
async def update_kb(
    kb_id: str, body: KnowledgeBaseUpdate, kbs: KBServiceDep, principal: Writer
) -> KnowledgeBaseOut:
    return await kbs.update(principal, kb_id, body)


@router.delete(
    "/{kb_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="knowledge_bases_delete",
    summary="Delete a knowledge base and its documents",
    responses=errors(403, 404),
)
async def delete_kb(kb_id: str, kbs: KBServiceDep, principal: Writer) -> None:
    await kbs.delete(principal, kb_id)


@router.post(
    "/{kb_id}/reindex",
    operation_id="knowledge_bases_reindex",
    summary="Re-index every document (optionally with a new embedding model)",
    responses=errors(403, 404),
)
async def reindex_kb(
    kb_id: str, body: ReindexRequest, kbs: KBServiceDep, principal: Writer
) -> KnowledgeBaseOut:
    return await kbs.reindex(principal, kb_id, body)


@router.post(
    "/{kb_id}/query",
    operation_id="knowledge_bases_query",
    summary="Search a knowledge base",
    responses=errors(404),
)
async def query_kb(
    kb_id: str, body: QueryRequest, kbs: KBServiceDep, principal: Reader
) -> QueryResponse:
    """Chunks ranked by `semantic`, `keyword` or `hybrid` (reciprocal rank fusion) retrieval,
    each with its document, position and a citation string."""
    return await kbs.query(principal, kb_id, body)


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string"},
                        "tags": {"type": "string", "description": "Comma-separated tags"},
                        "metadata": {"type": "string", "description": "A JSON object"},
                    },
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/TextDocument"}},
        },
    }
}


def _form_value(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@router.post(
    "/{kb_id}/documents",
    status_code=status.HTTP_201_CREATED,
    operation_id="documents_create",
    summary="Add a document (upload, text/JSON, or URL)",
    response_model=DocumentOut,
    responses={
        200: {"model": DocumentOut, "description": "The same content was already there"},
        **errors(403, 404, 413, 415),
    },
    openapi_extra=_UPLOAD_BODY,
)
async def add_document(kb_id: str, request: Request, docs: DocServiceDep, principal: Writer) -> Any:
    """Send a file as multipart (`file`), or JSON with `text`, `json` or `url`. Types: txt,
    md, html, pdf, docx, csv, json (anything else is 415). Ingestion runs in the background:
    follow `status`, or the `document:{id}` events."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=10)
        except MultiPartException as exc:
            raise ValidationFailed(
                "Malformed multipart body", [{"field": "body", "message": exc.message}]
            ) from exc
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed(
                "A file is required", [{"field": "file", "message": "is missing"}]
            )
        tags = [t.strip() for t in (_form_value(form.get("tags")) or "").split(",") if t.strip()]
        try:
            metadata = json.loads(_form_value(form.get("metadata")) or "{}")
        except ValueError as exc:
            raise ValidationFailed(
                "Invalid metadata", [{"field": "metadata", "message": "is not JSON"}]
            ) from exc
        if not isinstance(metadata, dict):
            raise ValidationFailed(
                "Invalid metadata", [{"field": "metadata", "message": "must be an object"}]
            )
        data = await upload.read()
        name = _form_value(form.get("name")) or upload.filename
        out, created = await docs.add_file(
            principal, kb_id, data, name, upload.content_type, tags=tags, metadata=metadata
        )
    else:
        try:
            raw = await request.json()
            body = TextDocument.model_validate(raw)
        except ValueError as exc:
            details = (
                exc.errors(include_url=False)
                if isinstance(exc, ValidationError)
                else [{"msg": "not valid JSON"}]
            )
            raise ValidationFailed(
                "Request validation failed",
                [
                    {
                        "field": ".".join(str(p) for p in d.get("loc", ("body",))),
                        "message": d.get("msg", ""),
                    }
                    for d in details
                ],
            ) from exc
        out, created = await docs.add_text(principal, kb_id, body)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.get(
    "/{kb_id}/documents",
    operation_id="documents_list",
    summary="List documents",
    responses=errors(404),
)
async def list_documents(
    kb_id: str,
    docs: DocServiceDep,
    page: PageParamsDep,
    principal: Reader,
    status: Annotated[DocumentStatus | None, Query()] = None,
) -> Page[DocumentOut]:
    return await docs.list(principal, kb_id, page, status)


@router.get(
    "/{kb_id}/documents/{doc_id}",
    operation_id="documents_get",
    summary="Get a document",
    responses=errors(404),
)
async def get_document(
    kb_id: str, doc_id: str, docs: DocServiceDep, principal: Reader
) -> DocumentOut:
    return await docs.get(principal, kb_id, doc_id)


@router.delete(
    "/{kb_id}/documents/{doc_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="documents_delete",
    summary="Delete a document, its chunks and vectors",
    responses=errors(403, 404),
)
async def delete_document(kb_id: str, doc_id: str, docs: DocServiceDep, principal: Writer) -> None:
    await docs.delete(principal, kb_id, doc_id)


@router.post(
    "/{kb_id}/documents/{doc_id}/reindex",
    operation_id="documents_reindex",
    summary="Ingest a document again",
    responses=errors(403, 404),
)
async def reindex_document(
    kb_id: str, doc_id: str, docs: DocServiceDep, principal: Writer
) -> DocumentOut:
    return await docs.reindex(principal, kb_id, doc_id)
