"""rewards: rules, tiers and tier history, points ledger, badges, bonuses, reward roles

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{referred}.id"],
        name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "reward_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("points_click", sa.Integer(), nullable=False),
        sa.Column("points_signup", sa.Integer(), nullable=False),
        sa.Column("points_conversion", sa.Integer(), nullable=False),
        sa.Column("welcome_text", sa.Text(), nullable=True),
        sa.Column("qualify_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        _fk("reward_rules", "program_id", "programs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_rules")),
        sa.UniqueConstraint("program_id", name=op.f("uq_reward_rules_program_id")),
    )
    op.create_table(
        "reward_tiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("bonus_bp", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bonus_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_reward_tiers_threshold_not_negative")),
        _fk("reward_tiers", "program_id", "programs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_tiers")),
        sa.UniqueConstraint("program_id", "name", name=op.f("uq_reward_tiers_program_id_name")),
    )
    op.create_table(
        "tier_history",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("affiliate_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("bonus_bp", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bonus_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reached_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        _fk("tier_history", "affiliate_id", "affiliates"),
        _fk("tier_history", "program_id", "programs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_history")),
    )
    with op.batch_alter_table("tier_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tier_history_affiliate_id_program_id_reached_at"),
            ["affiliate_id", "program_id", "reached_at"],
            unique=False,
        )
    op.create_table(
        "reward_points",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("affiliate_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("occurred_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        _fk("reward_points", "affiliate_id", "affiliates"),
        _fk("reward_points", "program_id", "programs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_points")),
        sa.UniqueConstraint("reason", name=op.f("uq_reward_points_reason")),
    )
    with op.batch_alter_table("reward_points", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reward_points_affiliate_id_occurred_at"),
            ["affiliate_id", "occurred_at"],
            unique=False,
        )
    op.create_table(
        "reward_badges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("affiliate_id", sa.Integer(), nullable=False),
        sa.Column("badge", sa.String(length=48), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("awarded_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        _fk("reward_badges", "affiliate_id", "affiliates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_badges")),
        sa.UniqueConstraint(
            "affiliate_id", "badge", name=op.f("uq_reward_badges_affiliate_id_badge")
        ),
    )
    op.create_table(
        "reward_bonuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("affiliate_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_reward_bonuses_amount_positive")),
        _fk("reward_bonuses", "affiliate_id", "affiliates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_bonuses")),
    )
    with op.batch_alter_table("reward_bonuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reward_bonuses_affiliate_id_created_at"),
            ["affiliate_id", "created_at"],
            unique=False,
        )
    op.create_table(
        "reward_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("role_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_roles")),
        sa.UniqueConstraint("subject", "role_id", name=op.f("uq_reward_roles_subject_role_id")),
    )
    op.create_table(
        "role_changes",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("affiliate_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("role_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), server_default="pending", nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("done_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("action IN ('grant', 'remove')", name=op.f("ck_role_changes_action")),
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'failed')", name=op.f("ck_role_changes_status")
        ),
        _fk("role_changes", "affiliate_id", "affiliates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_changes")),
    )
    with op.batch_alter_table("role_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_role_changes_status_id"), ["status", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("role_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_changes_status_id"))
    op.drop_table("role_changes")
    op.drop_table("reward_roles")
    with op.batch_alter_table("reward_bonuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reward_bonuses_affiliate_id_created_at"))
    op.drop_table("reward_bonuses")
    op.drop_table("reward_badges")
    with op.batch_alter_table("reward_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reward_points_affiliate_id_occurred_at"))
    op.drop_table("reward_points")
    with op.batch_alter_table("tier_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tier_history_affiliate_id_program_id_reached_at"))
    op.drop_table("tier_history")
    op.drop_table("reward_tiers")
    op.drop_table("reward_rules")
