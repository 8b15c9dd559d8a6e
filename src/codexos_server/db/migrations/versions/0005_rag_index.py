"""rag index: vector and keyword index tables (sqlite-vec + FTS5, or pgvector + tsvector)

These tables belong to the index adapters (`codexos_server.rag.index`), not to the ORM models:
autogenerate skips them (`codexos_server.rag.index.tables.include_name`). One vector table per
supported dimension; the sizes are written out here so this migration never changes.

SQLite:
  rag_index_entries    one row per indexed chunk: a stable INTEGER id (the rowid the virtual
                       tables share), chunk/document/knowledge-base ids, the text (FTS5's
                       external content) and the float32 vector (for exact rescoring).
                       chunk_id references rag_chunks ON DELETE CASCADE.
  rag_vectors_<dim>    vec0, partitioned by knowledge base, `document_id` as a metadata column,
                       the vector binary-quantized (bit[<dim>]) for the coarse KNN scan.
  rag_fts              FTS5 over rag_index_entries.text (porter stemming over unicode61).
  triggers             keep rag_fts and rag_vectors_<dim> in step with rag_index_entries, so a
                       deleted chunk (directly or by a knowledge base/document cascade) leaves
                       no orphan vector or FTS row.

PostgreSQL (pgvector):
  rag_vectors_<dim>    chunk_id (FK rag_chunks ON DELETE CASCADE), knowledge_base_id,
                       document_id, embedding vector(<dim>); HNSW (vector_cosine_ops, m=16,
                       ef_construction=64) plus b-trees on knowledge_base_id and document_id.
  rag_fts              chunk_id (FK, cascade), knowledge_base_id, document_id, tsv tsvector
                       ('english'); GIN on tsv.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = (384, 768, 1024, 1536)
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64


def _sqlite_upgrade() -> None:
    op.execute(
        """
        CREATE TABLE rag_index_entries (
            id INTEGER PRIMARY KEY,
            chunk_id VARCHAR(36) NOT NULL UNIQUE
                REFERENCES rag_chunks (id) ON DELETE CASCADE,
            knowledge_base_id VARCHAR(36) NOT NULL,
            document_id VARCHAR(36) NOT NULL,
            dimensions INTEGER NOT NULL,
            text TEXT NOT NULL,
            embedding BLOB NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_rag_index_entries_knowledge_base_id "
        "ON rag_index_entries (knowledge_base_id)"
    )
    op.execute("CREATE INDEX ix_rag_index_entries_document_id ON rag_index_entries (document_id)")
    op.execute(
        "CREATE VIRTUAL TABLE rag_fts USING fts5(text, content='rag_index_entries', "
        "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER rag_index_entries_fts_ai AFTER INSERT ON rag_index_entries BEGIN "
        "INSERT INTO rag_fts (rowid, text) VALUES (new.id, new.text); END"
    )
    op.execute(
        "CREATE TRIGGER rag_index_entries_fts_ad AFTER DELETE ON rag_index_entries BEGIN "
        "INSERT INTO rag_fts (rag_fts, rowid, text) VALUES ('delete', old.id, old.text); END"
    )
    for dim in DIMENSIONS:
        op.execute(
            f"CREATE VIRTUAL TABLE rag_vectors_{dim} USING vec0("
            f"knowledge_base_id TEXT PARTITION KEY, document_id TEXT, embedding BIT[{dim}])"
        )
        op.execute(
            f"CREATE TRIGGER rag_vectors_{dim}_ai AFTER INSERT ON rag_index_entries "  # noqa: S608
            f"WHEN new.dimensions = {dim} BEGIN "
            f"INSERT INTO rag_vectors_{dim} (rowid, knowledge_base_id, document_id, embedding) "
            "VALUES (new.id, new.knowledge_base_id, new.document_id, "
            "vec_quantize_binary(new.embedding)); END"
        )
        op.execute(
            f"CREATE TRIGGER rag_vectors_{dim}_ad AFTER DELETE ON rag_index_entries "  # noqa: S608
            f"WHEN old.dimensions = {dim} BEGIN "
            f"DELETE FROM rag_vectors_{dim} WHERE rowid = old.id; END"
        )


def _sqlite_downgrade() -> None:
    for dim in DIMENSIONS:
        op.execute(f"DROP TRIGGER IF EXISTS rag_vectors_{dim}_ad")
        op.execute(f"DROP TRIGGER IF EXISTS rag_vectors_{dim}_ai")
        op.execute(f"DROP TABLE IF EXISTS rag_vectors_{dim}")
    op.execute("DROP TRIGGER IF EXISTS rag_index_entries_fts_ad")
    op.execute("DROP TRIGGER IF EXISTS rag_index_entries_fts_ai")
    op.execute("DROP TABLE IF EXISTS rag_fts")
    op.execute("DROP TABLE IF EXISTS rag_index_entries")


def _postgres_upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    for dim in DIMENSIONS:
        table = f"rag_vectors_{dim}"
        op.execute(
            f"""
            CREATE TABLE {table} (
                chunk_id VARCHAR(36) PRIMARY KEY REFERENCES rag_chunks (id) ON DELETE CASCADE,
                knowledge_base_id VARCHAR(36) NOT NULL,
                document_id VARCHAR(36) NOT NULL,
                embedding vector({dim}) NOT NULL
            )
            """
        )
        op.execute(f"CREATE INDEX ix_{table}_knowledge_base_id ON {table} (knowledge_base_id)")
        op.execute(f"CREATE INDEX ix_{table}_document_id ON {table} (document_id)")
        op.execute(
            f"CREATE INDEX ix_{table}_embedding ON {table} USING hnsw (embedding vector_cosine_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
        )
    op.execute(
        """
        CREATE TABLE rag_fts (
            chunk_id VARCHAR(36) PRIMARY KEY REFERENCES rag_chunks (id) ON DELETE CASCADE,
            knowledge_base_id VARCHAR(36) NOT NULL,
            document_id VARCHAR(36) NOT NULL,
            tsv tsvector NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX ix_rag_fts_tsv ON rag_fts USING gin (tsv)")
    op.execute("CREATE INDEX ix_rag_fts_knowledge_base_id ON rag_fts (knowledge_base_id)")
    op.execute("CREATE INDEX ix_rag_fts_document_id ON rag_fts (document_id)")


def _postgres_downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS rag_fts")
    for dim in DIMENSIONS:
        op.execute(f"DROP TABLE IF EXISTS rag_vectors_{dim}")
    # The extension stays: other objects may use it, and dropping it needs its owner.


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
    else:
        _postgres_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_downgrade()
    else:
        _postgres_downgrade()
