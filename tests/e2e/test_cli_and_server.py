"""The two commands' path, for real: migrate, operator commands, serve, the Quick Start over
HTTP, the documentation pages and the Postman collection."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import LiveServer, server_env, start_server, stop_server

PASSWORD = "correct horse battery staple"


def test_quick_start_over_real_http(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.api, timeout=10) as http:
        assert (
            http.post(
                "/auth/register", json={"email": "qs@example.com", "password": PASSWORD}
            ).status_code
            == 201
        )
        r = http.post(
            "/auth/login",
            headers={"Content-Type": "application/json"},
            json={"email": "qs@example.com", "password": PASSWORD},
        )
        token = r.json()["access_token"]
        r = http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["email"] == "qs@example.com"
        assert r.headers["x-ratelimit-limit"]


def test_operator_commands(live_server: LiveServer) -> None:
    r = live_server.codexos(
        "admin",
        "create-user",
        "--email",
        "Root@Example.com",
        "--role",
        "admin",
        "--password",
        PASSWORD,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    r = live_server.codexos(
        "admin",
        "set-tier",
        "--email",
        "root@example.com",
        "--tier",
        "enterprise",
        "--limit",
        "4242",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    with httpx.Client(base_url=live_server.api, timeout=10) as http:
        token = http.post(
            "/auth/login", json={"email": "root@example.com", "password": PASSWORD}
        ).json()["access_token"]
        r = http.get("/users", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        r = http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.json()["role"] == "admin" and r.json()["tier"] == "enterprise"
        assert r.headers["x-ratelimit-limit"] == "4242"
    r = live_server.codexos("admin", "set-tier", "--email", "nobody@example.com", "--tier", "pro")
    assert r.returncode == 1 and "not found" in r.stdout.lower()
    r = live_server.codexos(
        "admin", "create-user", "--email", "weak@example.com", "--password", "password"
    )
    assert r.returncode == 1 and "password" in r.stdout.lower()


def test_docs_are_served_offline(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
        for page, asset in (
            ("/api/v1/docs", "swagger-ui-bundle.js"),
            ("/api/v1/redoc", "redoc.standalone.js"),
        ):
            html = http.get(page).text
            assert asset in html and "cdn" not in html.lower()
            src = next(part for part in html.split('"') if part.endswith(asset))
            assert http.get(src).status_code == 200
        spec = http.get("/api/v1/openapi.json").json()
        assert spec["info"]["title"] == "CodexOS API"
        collection = http.get("/api/v1/postman-collection.json").json()
        assert collection["variable"][0]["value"] == f"{live_server.api}"


def test_secret_key_generated_once_and_private(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        key_file = tmp_path / "secret_key"
        assert key_file.exists()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        first = key_file.read_text()
        with httpx.Client(base_url=server.api, timeout=10) as http:
            http.post("/auth/register", json={"email": "a@example.com", "password": PASSWORD})
            token = http.post(
                "/auth/login", json={"email": "a@example.com", "password": PASSWORD}
            ).json()["access_token"]
    finally:
        stop_server(server)
    server = start_server(tmp_path)  # a restart keeps the key, so tokens stay valid
    try:
        assert (tmp_path / "secret_key").read_text() == first
        r = httpx.get(
            f"{server.api}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert r.status_code == 200
    finally:
        stop_server(server)


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    import subprocess

    from tests.e2e.conftest import BIN

    r = subprocess.run(
        [str(BIN / "codexos"), "serve", "--port", "1"],
        env=server_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "codexos migrate" in r.stdout


@pytest.mark.parametrize("var", ["CODEXOS_DATABASE_URL"])
def test_env_file_is_honoured(tmp_path: Path, var: str) -> None:
    import subprocess

    from tests.e2e.conftest import BIN

    target = tmp_path / "elsewhere" / "db.sqlite"
    (tmp_path / ".env").write_text(f"{var}=sqlite+aiosqlite:///{target}\n")
    env = server_env(tmp_path / "data")
    r = subprocess.run(
        [str(BIN / "codexos"), "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert target.exists()
