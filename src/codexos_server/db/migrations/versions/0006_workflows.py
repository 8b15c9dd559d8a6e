"""workflows: definitions, versions, runs, node runs, approvals, schedules, hooks, webhook deliveries

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 20:38:19.843070
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import codexos_server.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "webhooks",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_workflows_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workflows_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
    )
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflows_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "workflow_hooks",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_hooks_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_hooks")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_workflow_hooks_token_hash")),
    )
    with op.batch_alter_table("workflow_hooks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_hooks_workflow_id"), ["workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workflow_hooks_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "workflow_runs",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_version", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("parent_run_id", sa.String(length=36), nullable=True),
        sa.Column("parent_node_key", sa.String(length=300), nullable=True),
        sa.Column(
            "graph_path",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("item_index", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "output",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "error",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("rerun_of", sa.String(length=36), nullable=True),
        sa.Column("started_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_workflow_runs_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_runs_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workflow_runs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_runs")),
        sa.UniqueConstraint(
            "parent_run_id",
            "parent_node_key",
            "item_index",
            name=op.f("uq_workflow_runs_parent_run_id_parent_node_key_item_index"),
        ),
        sa.UniqueConstraint(
            "workspace_id",
            "idempotency_key",
            name=op.f("uq_workflow_runs_workspace_id_idempotency_key"),
        ),
    )
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_runs_parent_run_id"), ["parent_run_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_workflow_runs_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_workflow_runs_workflow_id"), ["workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workflow_runs_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "workflow_schedules",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("cron", sa.String(length=120), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_fire_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_fired_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_schedules_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_schedules")),
    )
    with op.batch_alter_table("workflow_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_schedules_next_fire_at"), ["next_fire_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workflow_schedules_workflow_id"), ["workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workflow_schedules_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "workflow_versions",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_versions_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_versions")),
        sa.UniqueConstraint(
            "workflow_id", "version", name=op.f("uq_workflow_versions_workflow_id_version")
        ),
    )
    with op.batch_alter_table("workflow_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_versions_workflow_id"), ["workflow_id"], unique=False
        )

    op.create_table(
        "workflow_webhook_deliveries",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_webhook_deliveries_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_webhook_deliveries")),
    )
    with op.batch_alter_table("workflow_webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_webhook_deliveries_run_id"), ["run_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workflow_webhook_deliveries_workflow_id"), ["workflow_id"], unique=False
        )

    op.create_table(
        "workflow_approvals",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=36), nullable=True),
        sa.Column("decided_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("expires_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("default_outcome", sa.String(length=16), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["workflow_runs.id"],
            name=op.f("fk_workflow_approvals_run_id_workflow_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_approvals")),
        sa.UniqueConstraint("run_id", "node_id", name=op.f("uq_workflow_approvals_run_id_node_id")),
    )
    with op.batch_alter_table("workflow_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflow_approvals_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_workflow_approvals_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "workflow_hook_receipts",
        sa.Column("hook_id", sa.String(length=36), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hook_id"],
            ["workflow_hooks.id"],
            name=op.f("fk_workflow_hook_receipts_hook_id_workflow_hooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_hook_receipts")),
        sa.UniqueConstraint(
            "hook_id", "signature", name=op.f("uq_workflow_hook_receipts_hook_id_signature")
        ),
    )
    with op.batch_alter_table("workflow_hook_receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_hook_receipts_hook_id"), ["hook_id"], unique=False
        )

    op.create_table(
        "workflow_node_runs",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("node_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column(
            "input",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "output",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("branch", sa.String(length=200), nullable=True),
        sa.Column(
            "error",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("wake_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["workflow_runs.id"],
            name=op.f("fk_workflow_node_runs_run_id_workflow_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_node_runs")),
        sa.UniqueConstraint("run_id", "node_id", name=op.f("uq_workflow_node_runs_run_id_node_id")),
    )
    with op.batch_alter_table("workflow_node_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflow_node_runs_run_id"), ["run_id"], unique=False)

    op.create_table(
        "workflow_schedule_firings",
        sa.Column("schedule_id", sa.String(length=36), nullable=False),
        sa.Column("slot", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", codexos_server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["workflow_schedules.id"],
            name=op.f("fk_workflow_schedule_firings_schedule_id_workflow_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_schedule_firings")),
        sa.UniqueConstraint(
            "schedule_id", "slot", name=op.f("uq_workflow_schedule_firings_schedule_id_slot")
        ),
    )
    with op.batch_alter_table("workflow_schedule_firings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_schedule_firings_schedule_id"), ["schedule_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("workflow_schedule_firings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_schedule_firings_schedule_id"))

    op.drop_table("workflow_schedule_firings")
    with op.batch_alter_table("workflow_node_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_node_runs_run_id"))

    op.drop_table("workflow_node_runs")
    with op.batch_alter_table("workflow_hook_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_hook_receipts_hook_id"))

    op.drop_table("workflow_hook_receipts")
    with op.batch_alter_table("workflow_approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_approvals_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_approvals_run_id"))

    op.drop_table("workflow_approvals")
    with op.batch_alter_table("workflow_webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_webhook_deliveries_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_webhook_deliveries_run_id"))

    op.drop_table("workflow_webhook_deliveries")
    with op.batch_alter_table("workflow_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_versions_workflow_id"))

    op.drop_table("workflow_versions")
    with op.batch_alter_table("workflow_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_schedules_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_schedules_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_schedules_next_fire_at"))

    op.drop_table("workflow_schedules")
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_runs_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_runs_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_runs_status"))
        batch_op.drop_index(batch_op.f("ix_workflow_runs_parent_run_id"))

    op.drop_table("workflow_runs")
    with op.batch_alter_table("workflow_hooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_hooks_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_hooks_workflow_id"))

    op.drop_table("workflow_hooks")
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflows_workspace_id"))

    op.drop_table("workflows")
