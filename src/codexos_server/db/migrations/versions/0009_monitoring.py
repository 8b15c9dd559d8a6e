"""monitoring: request records, per-minute request and run roll-ups, roll-up watermarks,
budgets; runs remember their API key and are indexed by finish time

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 00:04:22.198988
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import codexos_server.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("finished_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("api_key_id", sa.String(length=36), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=300), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_log")),
    )
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_log_finished_at"), ["finished_at"], unique=False
        )

    op.create_table(
        "request_rollups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("minute", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("client_errors", sa.Integer(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column(
            "buckets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_rollups")),
        sa.UniqueConstraint(
            "minute", "workspace_id", name=op.f("uq_request_rollups_minute_workspace_id")
        ),
    )
    with op.batch_alter_table("request_rollups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_rollups_minute"), ["minute"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_request_rollups_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column(
            "rolled_until", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_state")),
    )
    op.create_table(
        "run_rollups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("minute", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("api_key_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column(
            "buckets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_rollups")),
        sa.UniqueConstraint(
            "minute",
            "workspace_id",
            "agent_id",
            "model",
            "api_key_id",
            "status",
            name=op.f("uq_run_rollups_minute_workspace_id_agent_id_model_api_key_id_status"),
        ),
    )
    with op.batch_alter_table("run_rollups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_rollups_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_run_rollups_minute"), ["minute"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_run_rollups_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "budgets",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=36), nullable=False),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("limit", sa.Float(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("spent", sa.Float(), nullable=False),
        sa.Column("warned_period", sa.String(length=7), nullable=True),
        sa.Column("exceeded_period", sa.String(length=7), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_budgets_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_budgets_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint(
            "workspace_id",
            "scope",
            "scope_id",
            "metric",
            name=op.f("uq_budgets_workspace_id_scope_scope_id_metric"),
        ),
    )
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_budgets_workspace_id"), ["workspace_id"], unique=False)

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_finished_at"), ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_finished_at"))
        batch_op.drop_column("api_key_id")

    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_budgets_workspace_id"))

    op.drop_table("budgets")
    with op.batch_alter_table("run_rollups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_rollups_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_run_rollups_minute"))
        batch_op.drop_index(batch_op.f("ix_run_rollups_agent_id"))

    op.drop_table("run_rollups")
    op.drop_table("rollup_state")
    with op.batch_alter_table("request_rollups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_rollups_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_request_rollups_minute"))

    op.drop_table("request_rollups")
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_log_finished_at"))

    op.drop_table("request_log")
