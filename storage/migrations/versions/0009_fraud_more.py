"""fraud signals: signup referrals that never come back (referral_activity)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referral_activity",
        sa.Column(
            "conversion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("signed_up_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("returned_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("inactive", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["conversions.id"],
            name=op.f("fk_referral_activity_conversion_id_conversions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
            name=op.f("fk_referral_activity_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversion_id", name=op.f("pk_referral_activity")),
    )
    op.create_index(
        op.f("ix_referral_activity_platform_user_id"),
        "referral_activity",
        ["platform", "user_id"],
    )
    op.create_index(
        op.f("ix_referral_activity_inactive_signed_up_at"),
        "referral_activity",
        ["inactive", "signed_up_at"],
    )
    op.create_index(
        op.f("ix_referral_activity_link_id_inactive"),
        "referral_activity",
        ["link_id", "inactive"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_referral_activity_link_id_inactive"), table_name="referral_activity")
    op.drop_index(
        op.f("ix_referral_activity_inactive_signed_up_at"), table_name="referral_activity"
    )
    op.drop_index(op.f("ix_referral_activity_platform_user_id"), table_name="referral_activity")
    op.drop_table("referral_activity")
