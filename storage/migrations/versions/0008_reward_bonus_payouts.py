"""reward bonuses in payouts, and one recorded tier change per standing

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payout_bonuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payout_id", sa.Integer(), nullable=False),
        sa.Column("bonus_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bonus_id"],
            ["reward_bonuses.id"],
            name=op.f("fk_payout_bonuses_bonus_id_reward_bonuses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payout_id"],
            ["payouts.id"],
            name=op.f("fk_payout_bonuses_payout_id_payouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_bonuses")),
        sa.UniqueConstraint("bonus_id", name=op.f("uq_payout_bonuses_bonus_id")),
    )
    with op.batch_alter_table("payout_bonuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payout_bonuses_payout_id"), ["payout_id"], unique=False
        )
    # Existing tier changes get a key of their own; new ones name the change they follow.
    with op.batch_alter_table("tier_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_key", sa.String(length=64), nullable=True))
    op.execute("UPDATE tier_history SET change_key = 'legacy:' || CAST(id AS TEXT)")
    with op.batch_alter_table("tier_history", schema=None) as batch_op:
        batch_op.alter_column("change_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_tier_history_change_key"), ["change_key"])


def downgrade() -> None:
    with op.batch_alter_table("tier_history", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_tier_history_change_key"), type_="unique")
        batch_op.drop_column("change_key")
    with op.batch_alter_table("payout_bonuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_bonuses_payout_id"))
    op.drop_table("payout_bonuses")
