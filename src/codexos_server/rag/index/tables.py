"""Names of the tables the index adapters own (created by migration 0005, not by the ORM
models), and the autogenerate hook that keeps Alembic from comparing them."""

from __future__ import annotations

from alembic.runtime.environment import NameFilterParentNames, NameFilterType

from codexos_server.rag.index.port import SUPPORTED_DIMENSIONS

ENTRIES_TABLE = "rag_index_entries"  # SQLite only
FTS_TABLE = "rag_fts"
# FTS5 and vec0 keep their data in shadow tables named after the virtual table.
_PREFIXES = ("rag_vectors_", "rag_fts", "rag_index_entries")


def vector_table(dimensions: int) -> str:
    """The vector table for this size. Raises: ValueError for an unsupported size."""
    if dimensions not in SUPPORTED_DIMENSIONS:
        raise ValueError(
            f"unsupported embedding size {dimensions}; supported: {SUPPORTED_DIMENSIONS}"
        )
    return f"rag_vectors_{dimensions}"


def is_index_table(name: str | None) -> bool:
    return name is not None and name.startswith(_PREFIXES)


def include_name(
    name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
) -> bool:
    """Alembic `include_name` hook: do not reflect the index tables (virtual tables and
    their shadow tables would otherwise show up as tables to drop)."""
    return not (type_ == "table" and is_index_table(name))
