"""The thresholds fraud rules judge by (built from the ``[fraud]`` config section).

Defaults are meant to catch obvious abuse without flagging a busy, honest affiliate: a
real visitor rarely opens the same link 30 times an hour, and a /24 is a whole office or
a mobile carrier's block, so its ceiling is much higher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.outbox import TargetKind

RULE_IP_FLOOD = "ip-flood"
RULE_NET_FLOOD = "net-flood"
RULE_RATE_SPIKE = "rate-spike"
RULE_NO_CLICK = "no-click"
RULE_TOO_FAST = "too-fast"
RULE_DUPLICATE_TXN = "duplicate-txn"
RULE_REVERSALS = "reversal-burst"
RULE_CONVERSION_RATE = "conversion-rate"
RULE_REFERRAL_BURST = "referral-burst"
RULE_NEW_ACCOUNT = "new-account"
RULE_INACTIVE_REFERRALS = "inactive-referrals"
RULE_SELF_CUSTOMER = "self-customer"
RULE_SELF_IP = "self-ip"
RULE_SHARED_CUSTOMER_IP = "shared-customer-ip"

RULE_TEXT = {
    RULE_IP_FLOOD: "many clicks on one link from one visitor",
    RULE_NET_FLOOD: "many clicks on one link from one network (/24)",
    RULE_RATE_SPIKE: "click rate far above the link's own baseline",
    RULE_NO_CLICK: "conversion without a matching click",
    RULE_TOO_FAST: "conversion implausibly soon after its click",
    RULE_DUPLICATE_TXN: "transaction id already used in another program",
    RULE_REVERSALS: "burst of reversals for one affiliate",
    RULE_CONVERSION_RATE: "conversion rate far above the program's",
    RULE_REFERRAL_BURST: "burst of signup referrals on one code",
    RULE_NEW_ACCOUNT: "referred account created moments before joining",
    RULE_INACTIVE_REFERRALS: "most referred accounts on one code never came back",
    RULE_SELF_CUSTOMER: "the customer is the affiliate's own chat account",
    RULE_SELF_IP: "the customer's IP is one the affiliate checked their own link from",
    RULE_SHARED_CUSTOMER_IP: "many customers of one affiliate converting from one IP",
}


@dataclass(frozen=True, slots=True)
class FraudRules:
    """Thresholds and where alerts go.

    ``alert_targets`` are (platform, id, kind) triples: Telegram manager user ids as
    private messages, and optionally a Discord managers-only channel.
    """

    enabled: bool = True
    window_seconds: int = 3600
    clicks_per_ip: int = 30
    clicks_per_network: int = 300
    spike_factor: int = 10
    spike_min_clicks: int = 100
    baseline_windows: int = 24
    min_seconds_to_convert: int = 5
    flag_without_click: bool = True
    reversals: int = 5
    rate_factor: int = 5
    rate_min_conversions: int = 10
    rate_days: int = 7
    reversal_window_hours: int = 24
    referrals_per_code: int = 20
    min_account_age_days: int = 7
    referral_inactive_days: int = 7
    referral_inactive_percent: int = 80
    referral_inactive_min: int = 10
    # A conversion whose visitor IP hash the affiliate was seen at (their link's check page)
    # within this many days is self-referral (0 turns the rule off).
    self_ip_days: int = 30
    # This many distinct customers of one affiliate, converting from one customer IP within
    # rate_days, are one person posing as many.
    customers_per_ip: int = 3
    alert_targets: tuple[tuple[str, str, TargetKind], ...] = ()


def holds_flagged(settings: dict[str, Any]) -> bool:
    """Whether a program keeps flagged conversions pending until a manager decides."""
    fraud = settings.get("fraud")
    return isinstance(fraud, dict) and bool(fraud.get("hold"))
