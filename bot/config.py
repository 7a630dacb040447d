"""Typed configuration: one TOML file, overridden by environment variables.

Precedence, lowest first: built-in defaults, the TOML file, ``AFFBOT_<SECTION>__<KEY>``
variables (``AFFBOT_<KEY>`` for top-level keys), and for the two bot tokens the plain
``DISCORD_TOKEN`` / ``TELEGRAM_TOKEN`` variables that hosting guides tell people to set.
Every mistake is reported as one :class:`ConfigError` naming the key, what was expected and
where the bad value came from, so start-up never shows a traceback for a typo.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from commands.broadcasts import cron
from storage.rewards import RewardDefaults

ENV_PREFIX = "AFFBOT_"
# Variables under the prefix that are not config keys: the config path itself and the test
# suite's database URL.
_RESERVED_ENV = ("AFFBOT_CONFIG", "AFFBOT_TEST_")
_PLAIN_ENV = {"DISCORD_TOKEN": ("discord", "token"), "TELEGRAM_TOKEN": ("telegram", "token")}


_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]{0,31}$")


class ConfigError(Exception):
    """A configuration problem, worded for the person who wrote the config."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def _check_http_url(value: str, *, scheme_hint: str = "http or https") -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"expected an absolute {scheme_hint} URL, got {value!r}")
    return value.rstrip("/")


class DatabaseConfig(_Section):
    url: SecretStr = Field(default=SecretStr("sqlite:///affbot.db"))

    @field_validator("url")
    @classmethod
    def _known_engine(cls, value: SecretStr) -> SecretStr:
        scheme, separator, _ = value.get_secret_value().partition("://")
        if scheme not in {"sqlite", "sqlite+aiosqlite", "postgresql", "postgresql+asyncpg"}:
            # The URL is a secret (it may hold a password): show its scheme only when it
            # plainly is one, never the text of a value that is not a URL at all.
            shown = (
                f"one starting with {scheme!r}"
                if separator and _SCHEME.match(scheme)
                else ("something that is not a URL")
            )
            raise ValueError(
                f"expected a sqlite:///PATH or postgresql://USER@HOST/DB URL, got {shown}"
            )
        try:
            urlsplit(value.get_secret_value()).port  # noqa: B018 - parsing is the check
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        return value


class WebConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_base_url: str = "http://127.0.0.1:8080"

    @field_validator("public_base_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return _check_http_url(value)


def _id_list(value: Any) -> Any:
    """Accept ``[1, 2]``, ``"1,2"`` and ``"[1, 2]"`` so ids can come from the environment."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


IdList = Annotated[list[int], BeforeValidator(_id_list)]


class TrackingConfig(_Section):
    """The tracking server: click batching, visitor hashing, postback limits, cap alerts."""

    click_batch_size: int = Field(default=2000, ge=1, le=100_000)
    click_flush_seconds: float = Field(default=1.0, gt=0, le=300)
    # Who writes click batches: a child process (keeps the server's event loop free for
    # redirects) or the server's own event loop.
    click_writer: Literal["process", "inline"] = "process"
    ip_hash_salt: SecretStr | None = None
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    link_cache_seconds: float = Field(default=5.0, ge=0, le=3600)
    trust_forwarded_for: bool = False
    cap_alert_percents: IdList = Field(default_factory=lambda: [90, 100])
    # Per client address token buckets (0 turns a limit off); see config.example.toml.
    redirects_per_minute: int = Field(default=1200, ge=0, le=10_000_000)
    redirect_burst: int = Field(default=200, ge=1, le=10_000_000)
    postbacks_per_minute: int = Field(default=6000, ge=0, le=10_000_000)
    postback_burst: int = Field(default=1000, ge=1, le=10_000_000)

    @field_validator("cap_alert_percents")
    @classmethod
    def _percents(cls, value: list[int]) -> list[int]:
        if not value or any(not 1 <= percent <= 1000 for percent in value):
            raise ValueError("expected a list of percentages between 1 and 1000, like [90, 100]")
        return sorted(set(value))


class DiscordConfig(_Section):
    token: SecretStr | None = None
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    manager_role_ids: IdList = Field(default_factory=list)
    # Managers as people: cap alerts and reports are DMs, and a role cannot be messaged.
    manager_user_ids: IdList = Field(default_factory=list)
    announce_channel_ids: IdList = Field(default_factory=list)
    # The role `/announce --ping` pings in announcement channel posts (unset: none).
    announce_ping_role_id: int | None = Field(default=None, ge=1)
    # Servers to sync slash commands to at start-up (instant); empty: global commands.
    guild_ids: IdList = Field(default_factory=list)
    # Gateway shards (discord.py AutoShardedClient); unset: one connection.
    shard_count: int | None = Field(default=None, ge=1, le=1024)
    # Personal server invites and join tracking; needs the Server Members intent.
    track_invites: bool = False
    # Where affiliate invites lead, per server; default: the server's system channel.
    invite_channel_ids: IdList = Field(default_factory=list)

    @field_validator("api_base_url")
    @classmethod
    def _api(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("gateway_url")
    @classmethod
    def _gateway(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"ws", "wss"} or not parts.hostname:
            raise ValueError(f"expected a ws:// or wss:// URL, got {value!r}")
        return value


_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")


class TelegramConfig(_Section):
    token: SecretStr | None = None
    api_base_url: str = "https://api.telegram.org"
    manager_user_ids: IdList = Field(default_factory=list)
    announce_chat_ids: IdList = Field(default_factory=list)
    # Administrators of the announcement chats count as managers (cached this many seconds).
    admins_are_managers: bool = True
    admin_cache_seconds: float = Field(default=300.0, ge=0, le=86_400)
    # Webhook mode when set: Telegram posts updates to this public https URL, served by the
    # tracking server on the URL's path; the secret is checked on every request.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # Long polling: how long one getUpdates request waits for news (seconds).
    poll_timeout: float = Field(default=30.0, ge=0, le=50)
    # Telegram's flood limits (Bot FAQ): ~30 messages/s overall, 20/min per group, ~1/s per
    # chat. The first two pace interactive replies; the last paces outbox deliveries.
    messages_per_second: float = Field(default=30.0, gt=0, le=1000)
    group_messages_per_minute: float = Field(default=20.0, gt=0, le=1000)
    seconds_between_messages_per_chat: float = Field(default=1.0, ge=0, le=60)
    # How long an interactive reply may wait out a 429 before giving up on it.
    max_retry_after_seconds: float = Field(default=30.0, ge=0, le=3600)

    @field_validator("api_base_url")
    @classmethod
    def _api(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"expected the public https:// URL Telegram posts to, got {value!r}")
        if not parts.path or parts.path == "/":
            raise ValueError("needs a path, such as https://bot.example.com/telegram/updates")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.match(value.get_secret_value()):
            raise ValueError("expected 16-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> TelegramConfig:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError(
                "webhook_url is set but webhook_secret is not: without it anyone could post "
                "fake updates (set telegram.webhook_secret or AFFBOT_TELEGRAM__WEBHOOK_SECRET)"
            )
        return self


class ConsoleConfig(_Section):
    user: str = Field(default="you", min_length=1, max_length=64)
    manager: bool = True


class PacingConfig(_Section):
    """How fast one platform's outbox is delivered."""

    rate_per_second: float = Field(default=5.0, gt=0, le=10_000)
    burst: int = Field(default=1, ge=1, le=1_000)
    per_chat_seconds: float = Field(default=1.0, ge=0, le=3_600)


class TelegramPacing(PacingConfig):
    # About 30 messages/s for bulk notifications and 1/s per chat (Telegram Bot FAQ).
    rate_per_second: float = Field(default=30.0, gt=0, le=10_000)


class DiscordPacing(PacingConfig):
    # Discord allows 50 requests/s per bot, but a DM costs up to two requests and refused
    # DMs count against the invalid-request ban budget: stay well below.
    burst: int = Field(default=5, ge=1, le=1_000)


class ConsolePacing(PacingConfig):
    rate_per_second: float = Field(default=100.0, gt=0, le=10_000)
    burst: int = Field(default=10, ge=1, le=1_000)
    per_chat_seconds: float = Field(default=0.0, ge=0, le=3_600)


class DeliveryConfig(_Section):
    enabled: bool = True
    separate_process: bool = True
    concurrency: int = Field(default=8, ge=1, le=256)
    claim_batch: int = Field(default=100, ge=1, le=10_000)
    lease_seconds: float = Field(default=60.0, ge=5, le=3_600)
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    mark_batch: int = Field(default=20, ge=1, le=1_000)
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base_seconds: float = Field(default=5.0, gt=0, le=3_600)
    backoff_max_seconds: float = Field(default=900.0, gt=0, le=86_400)
    telegram: TelegramPacing = Field(default_factory=TelegramPacing)
    discord: DiscordPacing = Field(default_factory=DiscordPacing)
    console: ConsolePacing = Field(default_factory=ConsolePacing)

    @field_validator("backoff_max_seconds")
    @classmethod
    def _cap_above_base(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("backoff_base_seconds")
        if base is not None and value < base:
            raise ValueError(f"must be at least backoff_base_seconds ({base:g})")
        return value


def _cron_or_empty(value: str) -> str:
    return cron.normalise(value) if value.strip() else ""


class SchedulesConfig(_Section):
    enabled: bool = True
    catch_up_hours: float = Field(default=24.0, ge=0, le=24 * 7)
    reload_seconds: float = Field(default=60.0, ge=1, le=3_600)
    leaderboard_cron: Annotated[str, AfterValidator(_cron_or_empty)] = "0 9 * * mon"
    feedback_cron: Annotated[str, AfterValidator(_cron_or_empty)] = "0 10 * * mon"
    period: Literal["last-week", "last-month", "week", "month", "today"] = "last-week"
    cap_alert_seconds: float = Field(default=5.0, ge=1, le=3_600)
    digest_cron: Annotated[str, AfterValidator(_cron_or_empty)] = "0 9 * * *"


class RewardsConfig(_Section):
    """Reward defaults for programs whose managers have not set their own (/rewards-admin)."""

    points_click: int = Field(default=0, ge=0, le=1_000_000)
    points_signup: int = Field(default=1, ge=0, le=1_000_000)
    points_conversion: int = Field(default=10, ge=0, le=1_000_000)
    milestones: IdList = Field(default_factory=lambda: [1, 10, 50, 100])

    @field_validator("milestones")
    @classmethod
    def _milestones(cls, value: list[int]) -> list[int]:
        if any(not 1 <= count <= 10_000_000 for count in value):
            raise ValueError("expected positive conversion counts, like [1, 10, 50, 100]")
        return sorted(set(value))


class FraudConfig(_Section):
    """Fraud signal thresholds (see ``commands.fraud.rules`` for what each rule means)."""

    enabled: bool = True
    window_seconds: int = Field(default=3600, ge=60, le=86_400)
    clicks_per_ip: int = Field(default=30, ge=2, le=1_000_000)
    clicks_per_network: int = Field(default=300, ge=2, le=1_000_000)
    spike_factor: int = Field(default=10, ge=2, le=10_000)
    spike_min_clicks: int = Field(default=100, ge=1, le=10_000_000)
    baseline_windows: int = Field(default=24, ge=1, le=24 * 30)
    min_seconds_to_convert: int = Field(default=5, ge=0, le=86_400)
    flag_without_click: bool = True
    reversals: int = Field(default=5, ge=2, le=100_000)
    reversal_window_hours: int = Field(default=24, ge=1, le=24 * 90)
    rate_factor: int = Field(default=5, ge=2, le=10_000)
    rate_min_conversions: int = Field(default=10, ge=1, le=1_000_000)
    rate_days: int = Field(default=7, ge=1, le=365)
    referrals_per_code: int = Field(default=20, ge=2, le=1_000_000)
    min_account_age_days: int = Field(default=7, ge=0, le=3650)
    # Signup referrals whose account never talks to the bot again within this many days
    # count as inactive; a code is flagged when at least referral_inactive_min of its
    # decided referrals are and they are at least referral_inactive_percent of them.
    referral_inactive_days: int = Field(default=7, ge=1, le=365)
    referral_inactive_percent: int = Field(default=80, ge=1, le=100)
    referral_inactive_min: int = Field(default=10, ge=1, le=1_000_000)
    # Self-referral by IP: a conversion from an address the affiliate opened their own
    # link's check page from, within this many days of that visit (0 turns it off).
    self_ip_days: int = Field(default=30, ge=0, le=3650)
    # This many distinct customers of one affiliate converting from one customer IP within
    # rate_days are flagged as one person posing as many.
    customers_per_ip: int = Field(default=3, ge=2, le=1_000_000)
    # A managers-only Discord channel for alerts (Discord managers are a role, not ids).
    alert_discord_channel_ids: IdList = Field(default_factory=list)


class CommandsConfig(_Section):
    """Per-user command rate limits (managers are never limited; 0 turns limits off)."""

    rate_per_minute: int = Field(default=20, ge=0, le=100_000)
    burst: int = Field(default=8, ge=1, le=100_000)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Config(_Section):
    timezone: str = "UTC"
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    discord: DiscordConfig = Field(default_factory=DiscordConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    schedules: SchedulesConfig = Field(default_factory=SchedulesConfig)
    rewards: RewardsConfig = Field(default_factory=RewardsConfig)
    fraud: FraudConfig = Field(default_factory=FraudConfig)
    commands: CommandsConfig = Field(default_factory=CommandsConfig)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"expected an IANA time zone such as 'Europe/Berlin' or 'UTC', got {value!r}"
            ) from None
        return value

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def reward_defaults(self) -> RewardDefaults:
        """The ``[rewards]`` section as the core takes it."""
        return RewardDefaults(
            points_click=self.rewards.points_click,
            points_signup=self.rewards.points_signup,
            points_conversion=self.rewards.points_conversion,
            milestones=tuple(self.rewards.milestones),
        )


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    required: bool = False,
) -> Config:
    """Read the TOML file (if any) and the environment into a validated :class:`Config`.

    Args:
        path: the TOML file; ``None`` means ``./config.toml`` when it exists.
        environ: the environment to read overrides from (``os.environ`` by default).
        required: whether a missing file is an error (true when the user named it).
    """
    env = os.environ if environ is None else environ
    if path is None:
        path = Path(env.get("AFFBOT_CONFIG", "config.toml"))
        required = required or "AFFBOT_CONFIG" in env
    raw: dict[str, Any] = {}
    sources: dict[tuple[str, ...], str] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
        except OSError as error:
            raise ConfigError(f"{path}: cannot be read: {error.strerror}") from None
        _record_sources(raw, (), str(path), sources)
    elif required:
        raise ConfigError(f"{path}: no such config file (copy config.example.toml to start one)")
    _apply_environment(raw, env, sources)
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe(error, sources)) from None


def _record_sources(
    tree: Mapping[str, Any], prefix: tuple[str, ...], origin: str, out: dict[tuple[str, ...], str]
) -> None:
    for key, value in tree.items():
        out[(*prefix, key)] = origin
        if isinstance(value, Mapping):
            _record_sources(value, (*prefix, key), origin, out)


def _apply_environment(
    raw: dict[str, Any], env: Mapping[str, str], sources: dict[tuple[str, ...], str]
) -> None:
    for name, value in sorted(env.items()):
        if name in _PLAIN_ENV:
            key: tuple[str, ...] = _PLAIN_ENV[name]
        elif name.startswith(ENV_PREFIX) and not name.startswith(_RESERVED_ENV):
            key = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            if not all(key):
                raise ConfigError(
                    f"{name}: expected AFFBOT_<SECTION>__<KEY>, e.g. AFFBOT_WEB__PORT"
                )
        else:
            continue
        section = raw
        for part in key[:-1]:
            child = section.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(key[:-1])} is not a section")
            section = child
        section[key[-1]] = value
        sources[key] = f"environment variable {name}"


def describe(error: ValidationError, sources: Mapping[tuple[str, ...], str] | None = None) -> str:
    """One line per problem naming the key and what was expected; values are quoted only
    for keys that are neither secrets nor sections (see :func:`_plain_value`)."""
    sources = sources or {}
    lines = []
    for problem in error.errors():
        key = tuple(str(part) for part in problem["loc"])
        # Element indexes of lists belong to the list key for source lookup.
        named = tuple(part for part in key if not part.isdigit())
        dotted = ".".join(key)
        if problem["type"] == "extra_forbidden":
            message = "unknown key (see config.example.toml for the keys there are)"
        else:
            message = problem["msg"].removeprefix("Value error, ")
            if not _plain_value(named):
                message = _without_value(message, problem.get("input"))
                if _holds_secret(named):
                    message += " (the value is a secret and is not shown)"
            elif problem["type"] not in {"value_error"} and "input" in problem:
                message += f" (got {problem['input']!r})"
        origin = sources.get(named)
        where = f" [from {origin}]" if origin else ""
        lines.append(f"{dotted}: {message}{where}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def secret_keys(model: type[BaseModel] = Config, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every key whose value is a secret (``database.url``, the tokens, …), dotted."""
    keys = []
    for name, field in model.model_fields.items():
        section = _section_type(field.annotation)
        if section is not None:
            keys += secret_keys(section, (*prefix, name))
        elif _mentions_secret(field.annotation):
            keys.append(".".join((*prefix, name)))
    return keys


def _plain_value(key: tuple[str, ...]) -> bool:
    """Whether an error at ``key`` may quote the value: only for a known, non-secret key.

    Sections are not plain either: ``AFFBOT_TELEGRAM=123:abc`` is a token put one level
    too high, and a wrong key may be a secret's misspelt name.
    """
    model: type[BaseModel] = Config
    for depth, part in enumerate(key):
        field = model.model_fields.get(part)
        if field is None:
            return False
        section = _section_type(field.annotation)
        if section is None:
            return depth == len(key) - 1 and not _mentions_secret(field.annotation)
        model = section
    return False


def _holds_secret(key: tuple[str, ...]) -> bool:
    dotted = ".".join(key)
    return any(secret == dotted or secret.startswith(f"{dotted}.") for secret in secret_keys())


def _without_value(message: str, value: Any) -> str:
    """A validator's message with any quotation of the offending value taken out."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    for text in {str(value), repr(value)} if isinstance(value, str | int | float) else set():
        if len(text) >= 4:  # short values would also match innocent words and numbers
            message = message.replace(text, "…")
    return message


def _section_type(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(argument) for argument in get_args(annotation))
