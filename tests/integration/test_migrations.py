"""Migrations upgrade an empty database to head on SQLite and on PostgreSQL, and match the
models (no pending autogenerate diff)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from codexos_server.db.database import Database
from codexos_server.db.migrate import current_revision, head_revision, upgrade
from codexos_server.db.models import metadata
from codexos_server.db.unmodelled import include_name


async def _fresh(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Database:
    if backend == "sqlite":
        return Database(f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    base = request.getfixturevalue("postgres_url")
    name = f"fresh_{tmp_path.name[-12:].lower().replace('-', '_')}"
    admin = Database(base)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return Database(make_url(base).set(database=name).render_as_string(hide_password=False))


async def test_upgrade_from_empty(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    db = await _fresh(backend, tmp_path, request)
    try:
        assert await current_revision(db) is None
        await upgrade(db)
        assert await current_revision(db) == head_revision()
        await upgrade(db)  # idempotent

        def check(connection: Connection) -> tuple[set[str], list[object]]:
            tables = set(inspect(connection).get_table_names())
            context = MigrationContext.configure(connection, opts={"include_name": include_name})
            diff = compare_metadata(context, metadata)
            return tables, diff

        async with db.engine.connect() as conn:
            tables, diff = await conn.run_sync(check)
        assert {t.name for t in metadata.sorted_tables} <= tables
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        await db.dispose()
