"""The tables, as SQLAlchemy Core metadata: the one schema both engines share.

Migrations in ``storage/migrations`` create exactly this (a test compares them on every
engine). Money is integer minor units next to an ISO 4217 currency code; percentages are
basis points (1/100 of a percent). Times are UTC. Status columns carry CHECK constraints so
that a bug cannot store a state the domain does not know.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from storage.types import BigId, UtcDateTime

# Named constraints keep migrations portable (SQLite batch mode needs names to alter them).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, *values: str) -> CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


programs = Table(
    "programs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(32), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("destination_url", Text, nullable=False),
    Column("fallback_url", Text),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("approval_required", Boolean, nullable=False, server_default="0"),
    Column("attribution_days", Integer, nullable=False, server_default="30"),
    Column("holding_days", Integer, nullable=False, server_default="30"),
    Column("min_payout_minor", BigInteger, nullable=False, server_default="0"),
    Column("recurring_months", Integer, nullable=False, server_default="0"),
    Column("materials", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    _one_of("status", "active", "paused"),
)

# Commission history: the rate for a conversion is the row in force at its occurred_at.
commissions = Table(
    "commissions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("effective_from", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(100)),
    _one_of("kind", "percent", "flat"),
    CheckConstraint("value >= 0", name="value_not_negative"),
    Index(None, "program_id", "effective_from"),
)

# Cap history: a cap is in force from effective_from until ended_at (NULL = still in force).
caps = Table(
    "caps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("metric", String(16), nullable=False),
    Column("period", String(8), nullable=False),
    Column("limit_value", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),
    Column("alert_percents", JSON, nullable=False),
    Column("effective_from", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("created_by", String(100)),
    _one_of("scope", "program", "affiliate"),
    _one_of("metric", "conversions", "commission"),
    _one_of("period", "day", "week", "month", "all"),
    _one_of("action", "notify", "fallback", "pause"),
    CheckConstraint("limit_value > 0", name="limit_positive"),
    Index(None, "program_id", "ended_at"),
)

affiliates = Table(
    "affiliates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("display_name", String(100), nullable=False),
    Column("alias", String(32), unique=True),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("suspended_reason", Text),
    Column("visibility", String(8), nullable=False, server_default="public"),
    Column("feedback", String(8), nullable=False, server_default="weekly"),
    Column("conversion_notices", String(8), nullable=False, server_default="daily"),
    Column("timezone", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    _one_of("status", "active", "suspended"),
    _one_of("visibility", "public", "alias", "hidden"),
    _one_of("feedback", "weekly", "off"),
    _one_of("conversion_notices", "instant", "daily", "off"),
)

# A platform account belongs to exactly one affiliate; /connect attaches more.
identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("platform_user_id", String(64), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("unreachable_reason", Text),
    Column("unreachable_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    UniqueConstraint("platform", "platform_user_id"),
    Index(None, "affiliate_id"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime),
    Column("decided_by", String(100)),
    _one_of("status", "pending", "approved", "rejected"),
    UniqueConstraint("affiliate_id", "program_id"),
    Index(None, "program_id", "status"),
)

# campaign is '' rather than NULL so the unique constraint covers "no campaign" too.
links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("campaign", String(64), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("affiliate_id", "program_id", "campaign"),
    Index(None, "program_id"),
)

# No raw IPs: ip_hash is a salted hash, enough to count unique visitors and spot floods.
clicks = Table(
    "clicks",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("click_id", String(32), nullable=False, unique=True),
    Column("link_id", ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("ip_hash", String(64), nullable=False),
    Column("user_agent_family", String(32), nullable=False),
    Column("referer_host", String(255)),
    # Hours since the epoch: "unique clicks" are distinct (link, visitor, hour) triples, and
    # an integer bucket counts them the same way on both engines.
    Column("hour_bucket", Integer, nullable=False, server_default="0"),
    # Salted hash of the visitor's /24 (IPv4) or /48 (IPv6) network: floods from one
    # network show up even when each address clicks only a few times.
    Column("net_hash", String(64)),
    Index(None, "link_id", "occurred_at"),
)

conversions = Table(
    "conversions",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="SET NULL")),
    Column("link_id", ForeignKey("links.id", ondelete="SET NULL")),
    Column("click_id", String(32)),
    Column("txn_id", String(128), nullable=False),
    Column("kind", String(8), nullable=False, server_default="sale"),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("commission_minor", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("over_cap", Boolean, nullable=False, server_default="0"),
    Column("customer_id", String(128)),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The customer's IP as the network reported it, salted and hashed like clicks.ip_hash
    # (never the address): self-referral and one-person-many-customers rules match on it.
    Column("customer_ip_hash", String(64)),
    # Reported while the affiliate was suspended: kept for the audit trail, worth nothing
    # (commission_minor is 0) and never counted for rank, caps or rewards.
    Column("while_suspended", Boolean, nullable=False, server_default="0"),
    _one_of("kind", "sale", "lead", "signup"),
    _one_of("status", "pending", "approved", "paid", "reversed"),
    CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
    UniqueConstraint("program_id", "txn_id"),
    Index(None, "txn_id"),
    Index(None, "affiliate_id", "occurred_at"),
    Index(None, "program_id", "occurred_at"),
    Index(None, "program_id", "customer_id"),
    Index(None, "affiliate_id", "customer_ip_hash"),
)

# Every status a conversion reached, with the answer the network got for it. The unique
# (conversion, status) pair makes a repeated postback a duplicate (answered with the first
# body) and settles concurrent transitions in the database. commission_delta_minor is the
# change to the affiliate's balance: +c on approval, -c on payout and on a clawback.
conversion_events = Table(
    "conversion_events",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("conversion_id", ForeignKey("conversions.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("previous_status", String(16)),
    Column("commission_delta_minor", BigInteger, nullable=False, server_default="0"),
    Column("response", JSON, nullable=False),
    Column("source", String(16), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    _one_of("status", "pending", "approved", "paid", "reversed"),
    UniqueConstraint("conversion_id", "status"),
)

# One row per cap, subject (the program, or one affiliate under a per-affiliate cap), period
# and alert threshold: the unique key makes each alert fire once. The delivery side turns
# rows with notified_at NULL into messages and stamps them.
cap_events = Table(
    "cap_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cap_id", ForeignKey("caps.id", ondelete="CASCADE"), nullable=False),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE")),
    Column("subject_key", String(32), nullable=False),
    Column("period_key", String(16), nullable=False),
    Column("threshold", Integer, nullable=False),
    Column("usage_value", BigInteger, nullable=False),
    Column("limit_value", BigInteger, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("notified_at", UtcDateTime),
    UniqueConstraint("cap_id", "subject_key", "period_key", "threshold"),
    Index(None, "notified_at"),
)

# Values the instance generates once and must keep (the IP hash salt when not configured).
instance_settings = Table(
    "instance_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# A KPI target for one affiliate, or for all (affiliate_id NULL), optionally per program.
targets = Table(
    "targets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE")),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE")),
    Column("metric", String(16), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("period", String(16), nullable=False),
    Column("created_by", String(100)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    _one_of("mode", "absolute", "growth"),
)

# Everything the bot says unprompted; dedupe_key makes queuing idempotent.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("platform", String(16), nullable=False),
    Column("target_kind", String(8), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, server_default="queued"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime),
    Column("last_error", Text),
    Column("broadcast_key", String(100)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    _one_of("target_kind", "user", "chat"),
    _one_of("status", "queued", "sending", "sent", "failed", "skipped"),
    Index(None, "status", "platform", "next_attempt_at"),
    Index(None, "broadcast_key"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("cron", String(64), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("targets", JSON, nullable=False),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE")),
    Column("period", String(16), nullable=False),
    Column("message", Text),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("created_by", String(100)),
    Column("created_at", UtcDateTime, nullable=False),
    _one_of("kind", "leaderboard", "feedback", "report", "announcement"),
)

# One row per firing: the unique key is what makes a schedule fire once per period.
schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("schedule_id", ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False),
    Column("period_key", String(64), nullable=False),
    Column("fired_at", UtcDateTime, nullable=False),
    UniqueConstraint("schedule_id", "period_key"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("occurred_at", UtcDateTime, nullable=False),
    Index(None, "occurred_at"),
)

# /connect: a one-time code (stored hashed) that attaches another platform account to an
# affiliate. used_at makes redemption single-use even under concurrent attempts.
connect_codes = Table(
    "connect_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Index(None, "affiliate_id"),
)

# A payment a manager made to an affiliate; the conversions it settled are listed in
# payout_conversions (a conversion is paid at most once, which the unique key enforces).
payouts = Table(
    "payouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(200)),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    Index(None, "affiliate_id", "created_at"),
)

payout_conversions = Table(
    "payout_conversions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("payout_id", ForeignKey("payouts.id", ondelete="CASCADE"), nullable=False),
    Column("conversion_id", ForeignKey("conversions.id", ondelete="CASCADE"), nullable=False),
    UniqueConstraint("conversion_id"),
    Index(None, "payout_id"),
)

# The manager bonuses (``reward_bonuses``) a payout settled; a bonus is paid at most once,
# which the unique key enforces.
payout_bonuses = Table(
    "payout_bonuses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("payout_id", ForeignKey("payouts.id", ondelete="CASCADE"), nullable=False),
    Column("bonus_id", ForeignKey("reward_bonuses.id", ondelete="CASCADE"), nullable=False),
    UniqueConstraint("bonus_id"),
    Index(None, "payout_id"),
)

# Discord server invites handed to affiliates: one per affiliate and server, reused.
discord_invites = Table(
    "discord_invites",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("guild_id", String(32), nullable=False),
    Column("channel_id", String(32), nullable=False),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("affiliate_id", "guild_id"),
)

# Members who joined a Discord server, attributed to an affiliate's invite when exactly one
# invite's use count rose. Informational only: joins never earn commission, points or rank.
server_joins = Table(
    "server_joins",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", String(32), nullable=False),
    Column("member_id", String(32), nullable=False),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="SET NULL")),
    Column("program_id", ForeignKey("programs.id", ondelete="SET NULL")),
    Column("invite_code", String(32)),
    Column("unattributed_reason", String(16)),
    Column("status", String(8), nullable=False, server_default="joined"),
    Column("joined_at", UtcDateTime, nullable=False),
    Column("left_at", UtcDateTime),
    _one_of("status", "joined", "left"),
    _one_of("unattributed_reason", "vanity", "ambiguous", "missed", "other"),
    UniqueConstraint("guild_id", "member_id"),
    Index(None, "affiliate_id", "joined_at"),
)

# A leaderboard as it was posted: later conversions or reversals never change a season.
leaderboard_seasons = Table(
    "leaderboard_seasons",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("period_key", String(32), nullable=False),
    Column("scope", String(32), nullable=False),
    Column("period_start", UtcDateTime, nullable=False),
    Column("period_end", UtcDateTime, nullable=False),
    Column("entries", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("period_key", "scope"),
)

# Reward rules of a program (one row; absent means the configured defaults apply).
# welcome_text is sent privately to a person a signup referral brought in; qualify_days is
# how long a referred account must stay active before the referrer's signup credit counts.
reward_rules = Table(
    "reward_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("points_click", Integer, nullable=False),
    Column("points_signup", Integer, nullable=False),
    Column("points_conversion", Integer, nullable=False),
    Column("welcome_text", Text),
    Column("qualify_days", Integer, nullable=False, server_default="0"),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("program_id"),
)

# Named tiers: reached with ``threshold`` approved conversions in the last ``window_days``.
# bonus_bp adds percentage points to a percent commission; bonus_minor to a flat one.
reward_tiers = Table(
    "reward_tiers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(32), nullable=False),
    Column("threshold", Integer, nullable=False),
    Column("window_days", Integer, nullable=False),
    Column("bonus_bp", Integer, nullable=False, server_default="0"),
    Column("bonus_minor", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("threshold >= 0", name="threshold_not_negative"),
    UniqueConstraint("program_id", "name"),
)

# Every tier change of an affiliate in a program. The row in force at a conversion's
# occurred_at decides its bonus, so a bonus applies only from the moment the tier was reached.
tier_history = Table(
    "tier_history",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("tier", String(32)),
    Column("bonus_bp", Integer, nullable=False, server_default="0"),
    Column("bonus_minor", BigInteger, nullable=False, server_default="0"),
    Column("reached_at", UtcDateTime, nullable=False),
    # ``<affiliate>:<program>:<id of the change this one follows, 0 for the first>``: two
    # simultaneous evaluations that saw the same standing cannot both record a change.
    Column("change_key", String(64), nullable=False),
    Index(None, "affiliate_id", "program_id", "reached_at"),
    UniqueConstraint("change_key"),
)

# The points ledger: one row per reason (unique), so re-processing an event never doubles
# points, and a reversal is a negative row of its own.
reward_points = Table(
    "reward_points",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("points", Integer, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    UniqueConstraint("reason"),
    Index(None, "affiliate_id", "occurred_at"),
)

# Badges: each awarded once per affiliate (the unique key settles races too).
reward_badges = Table(
    "reward_badges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("badge", String(48), nullable=False),
    Column("reason", String(200)),
    Column("awarded_at", UtcDateTime, nullable=False),
    UniqueConstraint("affiliate_id", "badge"),
)

# Money bonuses a manager granted with /reward: owed to the affiliate like commission.
reward_bonuses = Table(
    "reward_bonuses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(200)),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    Index(None, "affiliate_id", "created_at"),
)

# A Discord role that goes with a sales tier (``tier:<program id>:<name>``) or a badge
# (``badge:<name>``); never with invites. The bot finds the server by the role's id.
reward_roles = Table(
    "reward_roles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(100), nullable=False),
    Column("role_id", String(32), nullable=False),
    UniqueConstraint("subject", "role_id"),
)

# Role grants and removals waiting for the Discord adapter, and how they ended; failed rows
# keep Discord's refusal (missing Manage Roles, role above the bot's) for /report.
role_changes = Table(
    "role_changes",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("role_id", String(32), nullable=False),
    Column("action", String(8), nullable=False),
    Column("status", String(8), nullable=False, server_default="pending"),
    Column("error", String(300)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime),
    _one_of("action", "grant", "remove"),
    _one_of("status", "pending", "done", "failed"),
    Index(None, "status", "id"),
)

# Fraud signals. A flag is one rule firing on one subject; dedupe_key (rule + subject +
# window) makes a rule fire once per window however many batches see the same traffic.
# evidence holds counts, times and hashes only, never an address.
fraud_flags = Table(
    "fraud_flags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("rule", String(32), nullable=False),
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE")),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="SET NULL")),
    Column("link_id", ForeignKey("links.id", ondelete="SET NULL")),
    Column("evidence", JSON, nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime),
    Column("decided_by", String(100)),
    # Repeats of one rule for one affiliate in one program join the open flag: how many
    # times it fired, when last, and the group it is open for (``rule:program:affiliate``,
    # cleared when the flag is settled; unique, so concurrent raisers meet on one row).
    Column("occurrences", Integer, nullable=False, server_default="1"),
    Column("last_seen_at", UtcDateTime),
    Column("group_key", String(200), unique=True),
    _one_of("status", "open", "approved", "rejected"),
    Index(None, "status", "created_at"),
)

# Every dedupe key a flag stands for (its own and those of the repeats grouped into it), so
# the same traffic seen again never counts twice, whichever flag it joined.
fraud_flag_keys = Table(
    "fraud_flag_keys",
    metadata,
    Column("dedupe_key", String(200), primary_key=True),
    Column("flag_id", ForeignKey("fraud_flags.id", ondelete="CASCADE"), nullable=False),
    Index(None, "flag_id"),
)

fraud_flag_conversions = Table(
    "fraud_flag_conversions",
    metadata,
    Column("flag_id", ForeignKey("fraud_flags.id", ondelete="CASCADE"), primary_key=True),
    Column("conversion_id", ForeignKey("conversions.id", ondelete="CASCADE"), primary_key=True),
    Column("held", Boolean, nullable=False, server_default="0"),
    Index(None, "conversion_id"),
)

# The salted IP hashes an affiliate was seen at: written when they open their own link's
# private check page (/r/<code>/check), the one place the bot learns where they are.
# A conversion whose visitor hash matches one is self-referral by IP.
affiliate_sightings = Table(
    "affiliate_sightings",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("affiliate_id", ForeignKey("affiliates.id", ondelete="CASCADE"), nullable=False),
    Column("ip_hash", String(64), nullable=False),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    UniqueConstraint("affiliate_id", "ip_hash"),
)

# One row per signup referral, to judge whether the referred account ever talked to the bot
# again: ``returned_at`` is set the first time it does; ``inactive`` is decided once the
# referral is ``[fraud] referral_inactive_days`` old (NULL until then).
referral_activity = Table(
    "referral_activity",
    metadata,
    Column("conversion_id", ForeignKey("conversions.id", ondelete="CASCADE"), primary_key=True),
    Column("link_id", ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("signed_up_at", UtcDateTime, nullable=False),
    Column("returned_at", UtcDateTime),
    Column("inactive", Boolean),
    Index(None, "platform", "user_id"),
    Index(None, "inactive", "signed_up_at"),
    Index(None, "link_id", "inactive"),
)

# Click counts per (link, visitor or network hash, window): each click batch adds to these
# instead of recounting the clicks table, so flood rules cost one upsert per batch.
fraud_click_counters = Table(
    "fraud_click_counters",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("link_id", ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(8), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("window_start", Integer, nullable=False),
    Column("clicks", Integer, nullable=False),
    _one_of("scope", "ip", "net", "link", "signup"),
    UniqueConstraint("link_id", "scope", "key_hash", "window_start"),
)
