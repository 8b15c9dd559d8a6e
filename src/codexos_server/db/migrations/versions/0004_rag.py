"""rag: knowledge bases, documents, chunks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 19:30:41.918542
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import codexos_server.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_bases",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("embedding_provider", sa.String(length=64), nullable=False),
        sa.Column("embedding_model", sa.String(length=200), nullable=False),
        sa.Column("embedding_dimensions", sa.Integer(), nullable=False),
        sa.Column(
            "chunking", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "retrieval", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("document_count", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_knowledge_bases_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_knowledge_bases_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_bases")),
    )
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_bases_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "rag_documents",
        sa.Column("knowledge_base_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("tags", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column(
            "metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("embedding_model", sa.String(length=200), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["knowledge_base_id"],
            ["knowledge_bases.id"],
            name=op.f("fk_rag_documents_knowledge_base_id_knowledge_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rag_documents")),
        sa.UniqueConstraint(
            "knowledge_base_id",
            "content_hash",
            name=op.f("uq_rag_documents_knowledge_base_id_content_hash"),
        ),
    )
    with op.batch_alter_table("rag_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rag_documents_knowledge_base_id"), ["knowledge_base_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rag_documents_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "rag_chunks",
        sa.Column("knowledge_base_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column(
            "heading_path", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["rag_documents.id"],
            name=op.f("fk_rag_chunks_document_id_rag_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["knowledge_base_id"],
            ["knowledge_bases.id"],
            name=op.f("fk_rag_chunks_knowledge_base_id_knowledge_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rag_chunks")),
    )
    with op.batch_alter_table("rag_chunks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rag_chunks_document_position", ["document_id", "position"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rag_chunks_knowledge_base_id"), ["knowledge_base_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rag_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rag_chunks_knowledge_base_id"))
        batch_op.drop_index("ix_rag_chunks_document_position")

    op.drop_table("rag_chunks")
    with op.batch_alter_table("rag_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rag_documents_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_rag_documents_knowledge_base_id"))

    op.drop_table("rag_documents")
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_bases_workspace_id"))

    op.drop_table("knowledge_bases")
