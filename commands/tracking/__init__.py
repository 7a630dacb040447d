"""Tracking: links, conversions and signup referrals, and how they are attributed.

Owns /link (``handlers``); conversion input as networks send it (``postback_fields``);
recording a conversion with its attribution, commission, caps, fraud screening, rewards
and status changes (``conversions``); deep-link signup referrals (``referrals``); salted
visitor hashes and link check tokens (``ip_hashes``); and conversion notices to
affiliates (``notices``); who may be handed a link (``links``) and the placeholders
filled in programs' materials (``share_text``). The conversion path calls caps, fraud
and rewards through their exports; the tracking server and the importer in ``bot``
call it.
"""

from commands.tracking.conversions import (
    Outcome,
    TrackingRules,
    find_program,
    record_conversion,
    settle_held,
)
from commands.tracking.links import handed_out_link
from commands.tracking.postback_fields import (
    ALIASES,
    AUTH_MODES,
    DEFAULT_HEADER,
    ConversionInput,
    ConversionRejected,
    auth_of,
    postback_settings,
)
from commands.tracking.share_text import PLACEHOLDERS, fill, known_placeholders_only

__all__ = [
    "ALIASES",
    "AUTH_MODES",
    "DEFAULT_HEADER",
    "PLACEHOLDERS",
    "ConversionInput",
    "ConversionRejected",
    "Outcome",
    "TrackingRules",
    "auth_of",
    "fill",
    "find_program",
    "handed_out_link",
    "known_placeholders_only",
    "postback_settings",
    "record_conversion",
    "settle_held",
]
