"""Tables and indexes that migrations create outside the ORM models (full-text and vector
indexes), and the Alembic `include_name` hook that keeps autogenerate from comparing them."""

from __future__ import annotations

from alembic.runtime.environment import NameFilterParentNames, NameFilterType

from codexos_server.rag.index import tables as rag_index_tables

# Listing search (migration 0008): the FTS5 table and its shadow tables on SQLite, the GIN
# expression index on PostgreSQL.
MARKETPLACE_FTS = "marketplace_listings_fts"
MARKETPLACE_SEARCH_INDEX = "ix_marketplace_listings_search"


def include_name(
    name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
) -> bool:
    if type_ == "table" and name is not None and name.startswith(MARKETPLACE_FTS):
        return False
    if type_ == "index" and name == MARKETPLACE_SEARCH_INDEX:
        return False
    return rag_index_tables.include_name(name, type_, parent_names)
