"""fraud signals: flags, their conversions, incremental click counters, network hashes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clicks") as batch:
        batch.add_column(sa.Column("net_hash", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_conversions_txn_id"), "conversions", ["txn_id"])
    op.create_table(
        "fraud_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=True),
        sa.Column("affiliate_id", sa.Integer(), nullable=True),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("created_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'approved', 'rejected')", name=op.f("ck_fraud_flags_status")
        ),
        sa.ForeignKeyConstraint(
            ["affiliate_id"],
            ["affiliates.id"],
            name=op.f("fk_fraud_flags_affiliate_id_affiliates"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
            name=op.f("fk_fraud_flags_link_id_links"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_fraud_flags_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_flags")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_fraud_flags_dedupe_key")),
    )
    op.create_index(
        op.f("ix_fraud_flags_status_created_at"), "fraud_flags", ["status", "created_at"]
    )
    op.create_table(
        "fraud_flag_conversions",
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column(
            "conversion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("held", sa.Boolean(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["conversions.id"],
            name=op.f("fk_fraud_flag_conversions_conversion_id_conversions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["fraud_flags.id"],
            name=op.f("fk_fraud_flag_conversions_flag_id_fraud_flags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "flag_id", "conversion_id", name=op.f("pk_fraud_flag_conversions")
        ),
    )
    op.create_index(
        op.f("ix_fraud_flag_conversions_conversion_id"),
        "fraud_flag_conversions",
        ["conversion_id"],
    )
    op.create_table(
        "fraud_click_counters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "scope IN ('ip', 'net', 'link', 'signup')", name=op.f("ck_fraud_click_counters_scope")
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
            name=op.f("fk_fraud_click_counters_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_click_counters")),
        sa.UniqueConstraint(
            "link_id",
            "scope",
            "key_hash",
            "window_start",
            name=op.f("uq_fraud_click_counters_link_id_scope_key_hash_window_start"),
        ),
    )


def downgrade() -> None:
    op.drop_table("fraud_click_counters")
    op.drop_table("fraud_flag_conversions")
    op.drop_index(op.f("ix_fraud_flags_status_created_at"), table_name="fraud_flags")
    op.drop_table("fraud_flags")
    op.drop_index(op.f("ix_conversions_txn_id"), table_name="conversions")
    with op.batch_alter_table("clicks") as batch:
        batch.drop_column("net_hash")
