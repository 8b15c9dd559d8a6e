"""The error envelope from every layer, and the request id on every response."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from codexos_server.app import create_app
from codexos_server.config import Settings
from codexos_server.container import Container
from tests.conftest import PASSWORD, Account, assert_envelope


async def test_401_without_credentials(client: httpx.AsyncClient) -> None:
    r = await client.get("/users/me")
    err = assert_envelope(r, 401, "AUTHENTICATION_FAILED")
    assert "Bearer" in err["message"]
    assert r.headers["www-authenticate"] == "Bearer"


async def test_403_scope_missing(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    key = await account.api_key(["agents:read"])
    r = await client.get("/users/me", headers={"Authorization": f"Bearer {key}"})
    err = assert_envelope(r, 403, "AUTHORIZATION_FAILED")
    assert err["details"] == {"required_scope": "profile"}


async def test_404_unknown_route_and_unknown_id(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    assert_envelope(await client.get("/no/such/route"), 404, "RESOURCE_NOT_FOUND")
    assert_envelope(await client.get("/"), 404, "RESOURCE_NOT_FOUND")
    r = await client.get(
        "/workspaces/00000000-0000-0000-0000-000000000000", headers=account.headers()
    )
    err = assert_envelope(r, 404, "RESOURCE_NOT_FOUND")
    assert err["details"]["resource"] == "workspace"


async def test_405_wrong_method(client: httpx.AsyncClient) -> None:
    r = await client.put("/auth/login", json={})
    assert_envelope(r, 405, "METHOD_NOT_ALLOWED")


async def test_409_duplicate_email(client: httpx.AsyncClient) -> None:
    body = {"email": "dup@example.com", "password": PASSWORD}
    assert (await client.post("/auth/register", json=body)).status_code == 201
    body["email"] = "  DUP@example.com "
    r = await client.post("/auth/register", json=body)
    # Whitespace around the address is a validation error; the same address in another case is a 409.
    if r.status_code == 422:
        body["email"] = "DUP@example.com"
        r = await client.post("/auth/register", json=body)
    assert_envelope(r, 409, "CONFLICT")


async def test_413_oversized_body(
    settings_factory: Callable[..., Settings], container: Container
) -> None:
    settings = settings_factory(max_json_body_bytes=1024)
    app = create_app(settings, container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t/api/v1"
    ) as http:
        big = {"email": "a@example.com", "password": "x" * 5000}
        assert_envelope(await http.post("/auth/login", json=big), 413, "PAYLOAD_TOO_LARGE")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
            for _ in range(10):
                yield b'{"x": "' + b"y" * 500 + b'"}'

        r = await http.post(
            "/auth/login", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_envelope(r, 413, "PAYLOAD_TOO_LARGE")


async def test_422_lists_each_bad_field(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/auth/register", json={"email": "not-an-email", "password": 5, "extra": 1}
    )
    err = assert_envelope(r, 422, "VALIDATION_ERROR")
    fields = {d["field"] for d in err["details"]}
    assert {"body.email", "body.password", "body.extra"} <= fields


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        b'"just a string"',
        b"\xff\xfe\x00garbage",
        b'{"email": "a@b.co", "password":',
    ],
)
async def test_422_malformed_json(client: httpx.AsyncClient, raw: bytes) -> None:
    r = await client.post("/auth/login", content=raw, headers={"content-type": "application/json"})
    assert_envelope(r, 422, "VALIDATION_ERROR")


async def test_422_bad_query_and_cursor(
    make_account: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    account: Account = await make_account()
    assert_envelope(
        await client.get("/workspaces?limit=0", headers=account.headers()), 422, "VALIDATION_ERROR"
    )
    assert_envelope(
        await client.get("/workspaces?limit=abc", headers=account.headers()),
        422,
        "VALIDATION_ERROR",
    )
    r = await client.get("/workspaces?cursor=%%%garbage", headers=account.headers())
    assert_envelope(r, 422, "VALIDATION_ERROR")


async def test_500_hides_the_traceback(
    settings: Settings, container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings, container)

    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/api/v1/_boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as http:
        r = await http.get("/_boom", headers={"X-Request-ID": "trace-me-123"})
    err = assert_envelope(r, 500, "INTERNAL_ERROR")
    assert "secret internal detail" not in r.text
    assert "Traceback" not in r.text
    assert err["request_id"] == "trace-me-123"
    logged = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    errors = [e for e in logged if e.get("level") == "error"]
    assert errors and errors[0]["request_id"] == "trace-me-123"
    assert "secret internal detail" in errors[0]["exception"]  # the traceback goes to the log


async def test_request_id_echoed_or_generated(client: httpx.AsyncClient) -> None:
    r = await client.get("/health", headers={"X-Request-ID": "abc-123_x.y"})
    assert r.headers["x-request-id"] == "abc-123_x.y"
    r = await client.get("/health", headers={"X-Request-ID": 'bad id with spaces;"<>'})
    assert r.headers["x-request-id"].startswith("req_")
    r = await client.get("/health")
    assert r.headers["x-request-id"].startswith("req_")
