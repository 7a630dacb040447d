"""Fraud: signals of abuse, the flags they raise, and the managers' review of them.

Owns the thresholds and rule names (``rules``, from ``[fraud]``), raising a flag once and
alerting managers (``flags``), click floods per written batch (``clicks``), rules on one
conversion (``conversions``), referral farming (``referrals``, ``inactive``) and /fraud,
/fraud review and /fraud hold (``handlers``). Tracking runs the screening through the
exports here; the click writer and the scheduler in ``bot`` run the rest.
"""

from commands.fraud.conversions import record_screening, screen_conversion, screen_reversal
from commands.fraud.referrals import screen_referral
from commands.fraud.rules import FraudRules

__all__ = [
    "FraudRules",
    "record_screening",
    "screen_conversion",
    "screen_referral",
    "screen_reversal",
]
