"""Alembic environment: always given a live connection by codexos_server.db.migrate."""

from __future__ import annotations

from alembic import context

from codexos_server.db.models import metadata
from codexos_server.db.unmodelled import include_name

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `codexos migrate`, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
