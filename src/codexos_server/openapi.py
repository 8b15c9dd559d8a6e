"""OpenAPI document: the error envelope on every operation, and the Postman collection."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from codexos_server import __version__
from codexos_server.errors import ErrorEnvelope

_DESCRIPTIONS = {
    400: "Bad request",
    401: "AUTHENTICATION_FAILED: missing, invalid, expired or revoked credentials",
    402: "INSUFFICIENT_CREDITS (the wallet cannot pay) or PURCHASE_REQUIRED (buy it first)",
    403: "AUTHORIZATION_FAILED: the credential lacks a scope or the workspace role forbids it",
    404: "RESOURCE_NOT_FOUND: no such resource in a workspace you belong to",
    409: "CONFLICT: the request conflicts with the current state",
    413: "PAYLOAD_TOO_LARGE: the request body is over the limit",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR: `details` lists each bad field",
    429: "RATE_LIMIT_EXCEEDED: see the Retry-After header",
    500: "INTERNAL_ERROR: quote the request_id when reporting it",
    503: "SERVICE_UNAVAILABLE: a dependency (database, payment provider) is unavailable",
}

_RATE_HEADERS = {
    "X-RateLimit-Limit": {
        "description": "Requests allowed per hour",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in this window",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Seconds until the window resets",
        "schema": {"type": "integer"},
    },
    "X-Request-ID": {
        "description": "The request id (echoed or generated)",
        "schema": {"type": "string"},
    },
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error envelope under each status."""
    return {s: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[s]} for s in statuses}


def _error_ref(status: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }


def build_openapi(app: FastAPI, description: str) -> dict[str, Any]:
    """The app's OpenAPI document with common errors and headers added to every operation."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title="CodexOS API",
        version=__version__,
        description=description,
        routes=app.routes,
        tags=TAGS,
    )
    schema.setdefault("components", {}).setdefault("schemas", {})
    schema["components"]["schemas"].setdefault(
        "ErrorEnvelope",
        ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}"),
    )
    for defs_name, defs in ErrorEnvelope.model_json_schema().get("$defs", {}).items():
        schema["components"]["schemas"].setdefault(defs_name, defs)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            secured = bool(operation.get("security"))
            statuses = [422, 429, 500] + ([401] if secured else [])
            for status in statuses:
                responses.setdefault(str(status), _error_ref(status))
            if "422" in responses and "HTTPValidationError" in str(responses["422"]):
                responses["422"] = _error_ref(422)
            for code, response in responses.items():
                if code.startswith("2"):
                    response.setdefault("headers", {}).update(_RATE_HEADERS)
    schema["components"]["schemas"].pop("HTTPValidationError", None)
    schema["components"]["schemas"].pop("ValidationError", None)
    app.openapi_schema = schema
    return schema


TAGS = [
    {"name": "auth", "description": "Registration, login, tokens, API keys and scopes"},
    {"name": "users", "description": "Your profile; user administration for admins"},
    {"name": "workspaces", "description": "Workspaces, members, roles and invitations"},
    {"name": "agents", "description": "Agents: definitions, versions, execution, tools"},
    {"name": "runs", "description": "Runs of agents, their steps and events; conversations"},
    {"name": "knowledge", "description": "Knowledge bases: documents, ingestion, retrieval"},
    {"name": "models", "description": "Chat models and provider configurations"},
    {
        "name": "workflows",
        "description": "Workflows: definitions, versions, validation, runs, node states, approvals",
    },
    {
        "name": "workflow triggers",
        "description": "Cron schedules, signed inbound hooks and outbound run webhooks",
    },
    {
        "name": "marketplace",
        "description": "Listings, discovery, purchases, installs, updates, reviews, moderation",
    },
    {"name": "billing", "description": "Credits: wallet, transactions, earnings, top-ups, grants"},
    {
        "name": "monitoring",
        "description": "Workspace metrics, agent stats, usage and cost, budgets, system status",
    },
    {
        "name": "oauth",
        "description": "OAuth 2.0 for third-party apps: registration, tokens, authorizations",
    },
    {"name": "jobs", "description": "Background jobs: status, results, cancellation"},
    {"name": "system", "description": "Health, readiness and API documentation"},
]


def postman_collection(openapi: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A Postman v2.1 collection generated from the OpenAPI document, grouped by tag."""
    folders: dict[str, list[dict[str, Any]]] = {}
    for path, path_item in openapi.get("paths", {}).items():
        for method, op in path_item.items():
            if not isinstance(op, dict) or "operationId" not in op:
                continue
            tag = (op.get("tags") or ["other"])[0]
            folders.setdefault(tag, []).append(_postman_item(openapi, path, method, op))
    return {
        "info": {
            "name": "CodexOS API",
            "version": openapi.get("info", {}).get("version"),
            "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
        },
        "auth": {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}],
        },
        "variable": [
            {"key": "baseUrl", "value": base_url},
            {"key": "token", "value": ""},
        ],
        "item": [{"name": tag, "item": items} for tag, items in folders.items()],
    }


def _postman_item(
    openapi: dict[str, Any], path: str, method: str, op: dict[str, Any]
) -> dict[str, Any]:
    segments = [
        f":{part[1:-1]}" if part.startswith("{") and part.endswith("}") else part
        for part in path.strip("/").split("/")
    ]
    query = [
        {"key": p["name"], "value": "", "disabled": not p.get("required", False)}
        for p in op.get("parameters", [])
        if p.get("in") == "query"
    ]
    request: dict[str, Any] = {
        "method": method.upper(),
        "header": [{"key": "Content-Type", "value": "application/json"}],
        "url": {
            "raw": "{{baseUrl}}/" + "/".join(segments),
            "host": ["{{baseUrl}}"],
            "path": segments,
            "query": query,
            "variable": [
                {"key": p["name"], "value": ""}
                for p in op.get("parameters", [])
                if p.get("in") == "path"
            ],
        },
        "description": op.get("description") or op.get("summary", ""),
    }
    if not op.get("security"):
        request["auth"] = {"type": "noauth"}
    example = _body_example(openapi, op)
    if example is not None:
        request["body"] = {"mode": "raw", "raw": json.dumps(example, indent=2)}
    return {"name": op.get("summary") or op["operationId"], "request": request}


def _body_example(openapi: dict[str, Any], op: dict[str, Any]) -> Any:
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return None
    schema = content.get("schema", {})
    ref = schema.get("$ref")
    if ref:
        schema = openapi["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    examples = schema.get("examples")
    if examples:
        return examples[0]
    return {name: None for name in schema.get("properties", {})}
