"""The OpenAPI document: every operation tagged, summarised, named, with schemas and the
error envelope; the Postman collection generated from it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


async def test_every_operation_is_documented(spec: dict[str, Any]) -> None:
    operations = _operations(spec)
    assert len(operations) >= 30
    ids = [op["operationId"] for _, _, op in operations]
    assert len(ids) == len(set(ids)), "operation ids are unique"
    known_tags = {t["name"] for t in spec["tags"]}
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        # RFC 8414 fixes the metadata's place at the root.
        assert path.startswith("/api/v1/") or path == "/.well-known/oauth-authorization-server", (
            where
        )
        assert op.get("tags") and set(op["tags"]) <= known_tags, where
        assert op.get("summary"), where
        assert "_" in op["operationId"] and " " not in op["operationId"], where
        success = [code for code in op["responses"] if code.startswith("2")]
        assert success, where
        for code in ("422", "429", "500"):
            ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorEnvelope"), where
        if op.get("security"):
            assert "401" in op["responses"], where
        if method in {"post", "patch", "put"} and "requestBody" in op:
            content = op["requestBody"]["content"]
            # JSON everywhere, except the OAuth protocol endpoints (RFC 6749: form-encoded).
            expected = (
                "application/x-www-form-urlencoded"
                if path.startswith("/api/v1/oauth/")
                and path.split("/")[-1] in ("token", "revoke", "introspect")
                else "application/json"
            )
            assert expected in content, where
        for code in success:
            if code != "204":
                assert "content" in op["responses"][code], where
            assert "X-RateLimit-Limit" in op["responses"][code]["headers"], where


async def test_error_envelope_and_examples_in_components(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    envelope = schemas["ErrorEnvelope"]
    assert envelope["properties"]["error"]["$ref"].endswith("/ErrorBody")
    assert set(schemas["ErrorBody"]["required"]) >= {"code", "message", "request_id"}
    assert "HTTPValidationError" not in schemas
    assert schemas["LoginRequest"]["examples"][0]["email"] == "your-email@example.com"
    assert schemas["TokenPair"]["examples"][0]["token_type"] == "bearer"
    bearer = spec["components"]["securitySchemes"]["HTTPBearer"]
    assert bearer["type"] == "http" and bearer["scheme"] == "bearer"


async def test_postman_collection_covers_every_operation(
    client: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    collection = (await client.get("/postman-collection.json")).json()
    assert collection["info"]["schema"].endswith("v2.1.0/collection.json")
    requests = [item for folder in collection["item"] for item in folder["item"]]
    assert len(requests) == len(_operations(spec))
    login = next(i for i in requests if i["request"]["url"]["raw"].endswith("/auth/login"))
    assert login["request"]["method"] == "POST"
    assert login["request"]["auth"] == {"type": "noauth"}
    assert '"your-email@example.com"' in login["request"]["body"]["raw"]
    member = next(
        i for i in requests if ":workspace_id/members/:user_id" in i["request"]["url"]["raw"]
    )
    assert {v["key"] for v in member["request"]["url"]["variable"]} == {"workspace_id", "user_id"}
