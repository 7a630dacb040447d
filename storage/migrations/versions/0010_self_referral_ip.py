"""fraud signals: affiliates' own hashed IPs (affiliate_sightings), customer IP hashes

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversions") as batch:
        batch.add_column(sa.Column("customer_ip_hash", sa.String(length=64), nullable=True))
    op.create_index(
        op.f("ix_conversions_affiliate_id_customer_ip_hash"),
        "conversions",
        ["affiliate_id", "customer_ip_hash"],
    )
    op.create_table(
        "affiliate_sightings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("affiliate_id", sa.Integer(), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["affiliate_id"],
            ["affiliates.id"],
            name=op.f("fk_affiliate_sightings_affiliate_id_affiliates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affiliate_sightings")),
        sa.UniqueConstraint(
            "affiliate_id", "ip_hash", name=op.f("uq_affiliate_sightings_affiliate_id_ip_hash")
        ),
    )


def downgrade() -> None:
    op.drop_table("affiliate_sightings")
    op.drop_index(op.f("ix_conversions_affiliate_id_customer_ip_hash"), table_name="conversions")
    with op.batch_alter_table("conversions") as batch:
        batch.drop_column("customer_ip_hash")
