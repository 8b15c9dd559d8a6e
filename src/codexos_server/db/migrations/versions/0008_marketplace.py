"""marketplace: listings, versions, installs, purchases, reviews; listing search; agents and
workflows remember the listing they were installed from

Listing search: on SQLite an FTS5 table of (listing id, search_text) with porter stemming,
kept in step by triggers; on PostgreSQL a GIN index on its english tsvector.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 23:43:31.793624
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import codexos_server.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketplace_listings",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=True),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("icon_url", sa.String(length=500), nullable=True),
        sa.Column("pricing_model", sa.String(length=16), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("moderation_note", sa.Text(), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("install_count", sa.Integer(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("published_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price >= 0", name=op.f("ck_marketplace_listings_price_not_negative")),
        sa.CheckConstraint(
            "rating_count >= 0", name=op.f("ck_marketplace_listings_rating_count_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_marketplace_listings_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_marketplace_listings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_listings")),
    )
    with op.batch_alter_table("marketplace_listings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_listings_category"), ["category"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_listings_pricing_model"), ["pricing_model"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_listings_published_at"), ["published_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_listings_status"), ["status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_listings_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "marketplace_installs",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("listing_id", sa.String(length=36), nullable=False),
        sa.Column("installed_by", sa.String(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_resources",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("price_per_run", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["installed_by"],
            ["users.id"],
            name=op.f("fk_marketplace_installs_installed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listings.id"],
            name=op.f("fk_marketplace_installs_listing_id_marketplace_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_marketplace_installs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_installs")),
        sa.UniqueConstraint(
            "workspace_id",
            "listing_id",
            name=op.f("uq_marketplace_installs_workspace_id_listing_id"),
        ),
    )
    with op.batch_alter_table("marketplace_installs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_installs_listing_id"), ["listing_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_installs_resource_id"), ["resource_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_installs_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "marketplace_listing_versions",
        sa.Column("listing_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changelog", sa.Text(), nullable=False),
        sa.Column(
            "package",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listings.id"],
            name=op.f("fk_marketplace_listing_versions_listing_id_marketplace_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_listing_versions")),
        sa.UniqueConstraint(
            "listing_id", "version", name=op.f("uq_marketplace_listing_versions_listing_id_version")
        ),
    )
    with op.batch_alter_table("marketplace_listing_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_listing_versions_listing_id"), ["listing_id"], unique=False
        )

    op.create_table(
        "marketplace_purchases",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("listing_id", sa.String(length=36), nullable=False),
        sa.Column("purchased_by", sa.String(length=36), nullable=True),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listings.id"],
            name=op.f("fk_marketplace_purchases_listing_id_marketplace_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["purchased_by"],
            ["users.id"],
            name=op.f("fk_marketplace_purchases_purchased_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_marketplace_purchases_transaction_id_ledger_transactions"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_marketplace_purchases_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_purchases")),
        sa.UniqueConstraint(
            "workspace_id",
            "listing_id",
            name=op.f("uq_marketplace_purchases_workspace_id_listing_id"),
        ),
    )
    with op.batch_alter_table("marketplace_purchases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_purchases_listing_id"), ["listing_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_purchases_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "marketplace_reviews",
        sa.Column("listing_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_by", sa.String(length=36), nullable=True),
        sa.Column("replied_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rating BETWEEN 1 AND 5", name=op.f("ck_marketplace_reviews_rating_range")
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listings.id"],
            name=op.f("fk_marketplace_reviews_listing_id_marketplace_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["replied_by"],
            ["users.id"],
            name=op.f("fk_marketplace_reviews_replied_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_marketplace_reviews_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_marketplace_reviews_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_reviews")),
        sa.UniqueConstraint(
            "listing_id", "user_id", name=op.f("uq_marketplace_reviews_listing_id_user_id")
        ),
    )
    with op.batch_alter_table("marketplace_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_reviews_listing_id"), ["listing_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_reviews_user_id"), ["user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_reviews_workspace_id"), ["workspace_id"], unique=False
        )

    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_listing_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("source_listing_version", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_agents_source_listing_id"), ["source_listing_id"], unique=False
        )

    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_listing_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("source_listing_version", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_workflows_source_listing_id"), ["source_listing_id"], unique=False
        )

    _search_upgrade()


def _search_upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute(
            "CREATE INDEX ix_marketplace_listings_search ON marketplace_listings "
            "USING gin (to_tsvector('english', search_text))"
        )
        return
    # A contentful FTS table keyed by listing id (not by rowid: VACUUM may renumber the
    # rowids of a table without an INTEGER PRIMARY KEY).
    op.execute(
        "CREATE VIRTUAL TABLE marketplace_listings_fts USING fts5("
        "listing_id UNINDEXED, search_text, tokenize='porter unicode61')"
    )
    op.execute(
        "CREATE TRIGGER marketplace_listings_fts_ai AFTER INSERT ON marketplace_listings BEGIN "
        "INSERT INTO marketplace_listings_fts (listing_id, search_text) "
        "VALUES (new.id, new.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER marketplace_listings_fts_ad AFTER DELETE ON marketplace_listings BEGIN "
        "DELETE FROM marketplace_listings_fts WHERE listing_id = old.id; END"
    )
    op.execute(
        "CREATE TRIGGER marketplace_listings_fts_au AFTER UPDATE OF search_text "
        "ON marketplace_listings BEGIN "
        "UPDATE marketplace_listings_fts SET search_text = new.search_text "
        "WHERE listing_id = new.id; END"
    )


def _search_downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP INDEX IF EXISTS ix_marketplace_listings_search")
        return
    for trigger in ("ai", "ad", "au"):
        op.execute(f"DROP TRIGGER IF EXISTS marketplace_listings_fts_{trigger}")
    op.execute("DROP TABLE IF EXISTS marketplace_listings_fts")


def downgrade() -> None:
    _search_downgrade()
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflows_source_listing_id"))
        batch_op.drop_column("source_listing_version")
        batch_op.drop_column("source_listing_id")

    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_source_listing_id"))
        batch_op.drop_column("source_listing_version")
        batch_op.drop_column("source_listing_id")

    with op.batch_alter_table("marketplace_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_reviews_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_reviews_user_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_reviews_listing_id"))

    op.drop_table("marketplace_reviews")
    with op.batch_alter_table("marketplace_purchases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_purchases_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_purchases_listing_id"))

    op.drop_table("marketplace_purchases")
    with op.batch_alter_table("marketplace_listing_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_listing_versions_listing_id"))

    op.drop_table("marketplace_listing_versions")
    with op.batch_alter_table("marketplace_installs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_installs_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_installs_resource_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_installs_listing_id"))

    op.drop_table("marketplace_installs")
    with op.batch_alter_table("marketplace_listings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_listings_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_listings_status"))
        batch_op.drop_index(batch_op.f("ix_marketplace_listings_published_at"))
        batch_op.drop_index(batch_op.f("ix_marketplace_listings_pricing_model"))
        batch_op.drop_index(batch_op.f("ix_marketplace_listings_category"))

    op.drop_table("marketplace_listings")
