"""A real CodexOS server (subprocess, SQLite in a temp dir, scripted model) for the SDK
tests, and accounts on it: one with an API key, one admin."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from codexos import CodexOS

from tests.e2e.conftest import LiveServer, start_server, stop_server

PASSWORD = "correct horse battery staple"
UNLIMITED = {
    "CODEXOS_LLM_PROVIDER": "scripted",
    "CODEXOS_RATE_LIMIT_FREE": "1000000000",
    "CODEXOS_RATE_LIMIT_ANONYMOUS": "1000000000",
    "CODEXOS_LOGIN_LIMIT_PER_IP": "1000000 per minute",
    "CODEXOS_LOGIN_LIMIT_PER_ACCOUNT": "1000000 per minute",
}


@dataclass
class SdkAccount:
    email: str
    api_key: str
    user_id: str
    workspace_id: str


def new_account(server: LiveServer, *, admin: bool = False) -> SdkAccount:
    """Register, sign in and create an API key with every scope, over plain HTTP."""
    email = f"sdk-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=server.api, timeout=30) as http:
        r = http.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        if admin:
            done = server.codexos("admin", "set-role", "--email", email, "--role", "admin")
            assert done.returncode == 0, done.stdout + done.stderr
        r = http.post("/auth/login", json={"email": email, "password": PASSWORD})
        token = r.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = {"name": "sdk", "scopes": ["*"]}
        r = http.post("/auth/api-keys", json=body, headers=headers)
        assert r.status_code == 201, r.text
        key = r.json()
    return SdkAccount(email, key["key"], user_id, key["workspace_id"])


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("sdk"), **UNLIMITED)
    yield live
    stop_server(live)


@pytest.fixture(scope="package")
def admin_account(server: LiveServer) -> SdkAccount:
    """One admin for the package: making one runs the `codexos admin` CLI (seconds)."""
    return new_account(server, admin=True)


@pytest.fixture
def account(server: LiveServer) -> SdkAccount:
    return new_account(server)


@pytest.fixture
def client(server: LiveServer, account: SdkAccount) -> Iterator[CodexOS]:
    with CodexOS(api_key=account.api_key, base_url=server.base_url, max_retries=0) as sdk:
        yield sdk


def scripted(*replies: str) -> dict[str, object]:
    """Agent model settings: the scripted model answering `replies` in turn."""
    return {"provider": "scripted", "options": {"script": [{"content": r} for r in replies]}}
