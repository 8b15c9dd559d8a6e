"""Swagger UI, ReDoc, the OpenAPI document and the Postman collection, all served locally
(the UI assets come from the fastapi-offline package, so the docs work without internet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from codexos_server.config import API_PREFIX
from codexos_server.openapi import postman_collection

STATIC_PATH = f"{API_PREFIX}/_docs-static"
_ASSETS = Path(fastapi_offline.__file__).parent / "static"


def install_docs(app: FastAPI) -> None:
    """Mount the documentation pages and their assets on the app."""
    app.mount(STATIC_PATH, StaticFiles(directory=_ASSETS), name="docs-static")
    router = APIRouter(include_in_schema=False)

    @router.get(f"{API_PREFIX}/docs")
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="CodexOS API",
            swagger_js_url=f"{STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_PATH}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @router.get(f"{API_PREFIX}/redoc")
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="CodexOS API",
            redoc_js_url=f"{STATIC_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC_PATH}/favicon.png",
            with_google_fonts=False,
        )

    @router.get(f"{API_PREFIX}/postman-collection.json")
    async def postman(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/") + API_PREFIX
        collection: dict[str, Any] = postman_collection(app.openapi(), base)
        return JSONResponse(collection)

    app.include_router(router)
