"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, and the app on it.

PostgreSQL comes from `CODEXOS_TEST_POSTGRES_URL` when set, else from the `pgserver`
package (a real PostgreSQL 16 with pgvector, started once per session). API tests run on
both backends; there is no mocked database anywhere.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from codexos_server.app import create_app
from codexos_server.config import Settings
from codexos_server.container import Container, build_container
from codexos_server.db.database import Database
from codexos_server.db.migrate import upgrade
from codexos_server.db.models import metadata

BACKENDS = ["sqlite", "postgres"]
PASSWORD = "correct horse battery staple"


def _pg_admin_url() -> str:
    url = os.environ.get("CODEXOS_TEST_POSTGRES_URL")
    if url:
        return url
    import pgserver

    server = pgserver.get_server(
        Path(os.environ.get("CODEXOS_TEST_PGDATA", "/tmp/codexos-pgserver")), cleanup_mode="stop"
    )
    return str(server.get_uri())


def _asyncpg_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def run_blocking(coro: Any) -> Any:
    """Run a coroutine to completion from synchronous code, even when the calling thread
    already runs an event loop (a session fixture first requested by an async test)."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def create_postgres_database(admin_url: str, name: str) -> str:
    """Create and migrate a database on the test server; returns its URL."""

    async def create() -> str:
        admin = Database(admin_url)
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        db = Database(url)
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        await upgrade(db)
        await db.dispose()
        return url

    return str(run_blocking(create()))


def drop_postgres_database(admin_url: str, name: str) -> None:
    async def drop() -> None:
        admin = Database(admin_url)
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    run_blocking(drop())


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    return _asyncpg_url(_pg_admin_url())


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    name = f"codexos_test_{uuid.uuid4().hex[:10]}"
    url = create_postgres_database(postgres_admin_url, name)
    yield url
    drop_postgres_database(postgres_admin_url, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "codexos.db"

    async def create() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(db)
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await db.dispose()

    run_blocking(create())
    return path


async def truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "data" / "codexos.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings_factory(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    """Settings for a test app; keyword arguments override fields."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "secret_key": "test-secret-key-" + "x" * 48,
            "password_hash_time_cost": 1,
            "password_hash_memory_kib": 1024,
            "rate_limit_free": 100_000,
            "rate_limit_pro": 100_000,
            "rate_limit_anonymous": 100_000,
            "redis_url": None,
            "broker_url": None,
            "llm_provider": "scripted",
            "log_format": "json",
            "log_level": "WARNING",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture
async def container(settings: Settings, backend: str) -> AsyncIterator[Container]:
    c = build_container(settings)
    if backend == "postgres":
        await truncate_all(c.db)
    yield c
    await c.close()


@pytest.fixture
async def client(settings: Settings, container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, container)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver/api/v1"
        ) as http,
    ):
        yield http


@pytest.fixture
async def client_factory(
    settings_factory: Callable[..., Settings], container: Container
) -> AsyncIterator[Callable[..., Any]]:
    """Build extra apps on the test database with other settings: `await make(**overrides)`
    returns an httpx client for it (closed at teardown)."""
    stack = AsyncExitStack()

    async def make(**overrides: Any) -> httpx.AsyncClient:
        settings = settings_factory(**overrides)
        extra = build_container(settings)
        stack.push_async_callback(extra.close)
        app = create_app(settings, extra)
        await stack.enter_async_context(app.router.lifespan_context(app))
        return await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver/api/v1"
            )
        )

    yield make
    await stack.aclose()


class Account:
    """A registered, logged-in user as the tests drive it."""

    def __init__(self, http: httpx.AsyncClient, email: str, user_id: str, tokens: dict[str, Any]):
        self.http = http
        self.email = email
        self.id = user_id
        self.tokens = tokens

    @property
    def token(self) -> str:
        return str(self.tokens["access_token"])

    def headers(self, workspace_id: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if workspace_id:
            headers["X-Workspace-ID"] = workspace_id
        return headers

    async def personal_workspace(self) -> str:
        r = await self.http.get("/workspaces", headers=self.headers())
        return next(w["id"] for w in r.json()["items"] if w["is_personal"])

    async def api_key(self, scopes: list[str], workspace_id: str | None = None) -> str:
        r = await self.http.post(
            "/auth/api-keys",
            json={"name": "test", "scopes": scopes},
            headers=self.headers(workspace_id),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["key"])


async def register(
    http: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD
) -> Account:
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    r = await http.post(
        "/auth/register", json={"email": email, "password": password, "name": "Test"}
    )
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    r = await http.post("/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return Account(http, email, user_id, r.json())


@pytest.fixture
def make_account(client: httpx.AsyncClient) -> Callable[..., Any]:
    async def make(email: str | None = None) -> Account:
        return await register(client, email)

    return make


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the error envelope with this status and code; returns the error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}, error
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["x-request-id"]
    return dict(error)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis URL for integration tests. CI sets CODEXOS_TEST_REDIS_URL; a developer
    machine without it skips these tests, but CI never does (the variable is set there and an
    unreachable server fails the test)."""
    url = os.environ.get("CODEXOS_TEST_REDIS_URL")
    if not url:
        pytest.skip("CODEXOS_TEST_REDIS_URL is not set")
    return url
