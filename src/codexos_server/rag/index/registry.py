"""The index adapters by name, and the one that goes with a database dialect."""

from __future__ import annotations

from collections.abc import Callable

from codexos_server.rag.index.pgvector import PgVectorIndex
from codexos_server.rag.index.port import VectorIndex
from codexos_server.rag.index.sqlite_vec import SqliteVecIndex

VectorIndexFactory = Callable[[], VectorIndex]
VECTOR_INDEXES: dict[str, VectorIndexFactory] = {
    "sqlite-vec": SqliteVecIndex,
    "pgvector": PgVectorIndex,
}
# The index that lives in each database (its tables come with the migrations).
DIALECT_INDEXES: dict[str, str] = {"sqlite": "sqlite-vec", "postgresql": "pgvector"}


def register_vector_index(name: str, factory: VectorIndexFactory) -> None:
    """Add (or replace) an adapter; `index_for` finds it through DIALECT_INDEXES."""
    VECTOR_INDEXES[name] = factory


def index_for(dialect_name: str) -> VectorIndex:
    """A new index adapter for this SQLAlchemy dialect name (`Database.dialect`).

    Raises: ValueError for a dialect without one.
    """
    name = DIALECT_INDEXES.get(dialect_name)
    if name is None or name not in VECTOR_INDEXES:
        raise ValueError(f"no vector index for the {dialect_name!r} database")
    return VECTOR_INDEXES[name]()
