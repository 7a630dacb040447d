"""tracking: click hour buckets, conversion status history, cap events, instance settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 16:29:52.225947
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_instance_settings")),
    )
    op.create_table(
        "cap_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cap_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("affiliate_id", sa.Integer(), nullable=True),
        sa.Column("subject_key", sa.String(length=32), nullable=False),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("usage_value", sa.BigInteger(), nullable=False),
        sa.Column("limit_value", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("notified_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["affiliate_id"],
            ["affiliates.id"],
            name=op.f("fk_cap_events_affiliate_id_affiliates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cap_id"], ["caps.id"], name=op.f("fk_cap_events_cap_id_caps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_cap_events_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cap_events")),
        sa.UniqueConstraint(
            "cap_id",
            "subject_key",
            "period_key",
            "threshold",
            name=op.f("uq_cap_events_cap_id_subject_key_period_key_threshold"),
        ),
    )
    with op.batch_alter_table("cap_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cap_events_notified_at"), ["notified_at"], unique=False
        )

    op.create_table(
        "conversion_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "conversion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous_status", sa.String(length=16), nullable=True),
        sa.Column("commission_delta_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'paid', 'reversed')",
            name=op.f("ck_conversion_events_status"),
        ),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["conversions.id"],
            name=op.f("fk_conversion_events_conversion_id_conversions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_events")),
        sa.UniqueConstraint(
            "conversion_id", "status", name=op.f("uq_conversion_events_conversion_id_status")
        ),
    )
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hour_bucket", sa.Integer(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversions_program_id_customer_id"),
            ["program_id", "customer_id"],
            unique=False,
        )
