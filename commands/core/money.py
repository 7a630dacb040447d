"""Exact money: ISO 4217 currencies, minor units and commission rates.

Amounts are integers of the currency's minor unit (cents for USD, yen for JPY, fils for
BHD); ``Decimal`` appears only at the edges, where people type or read amounts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Literal

# Active ISO 4217 codes whose minor unit is not two digits.
_EXPONENTS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
    "UYW": 4,
}
# Every active ISO 4217 currency code (list of 2024); funds and metals excluded.
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD
    EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS
    INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD
    LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK
    NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW
    ZWG ZWL
    """.split()
)
MAX_MINOR = 10**15  # far above any real sale; keeps sums inside 64-bit columns
MAX_MINOR_DIGITS = 15  # the decimal exponent of MAX_MINOR


def exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency``."""
    return _EXPONENTS.get(currency, 2)


def check_currency(code: str) -> str:
    """Normalise and validate an ISO 4217 code.

    Raises:
        ValueError: not an active ISO 4217 code.
    """
    upper = code.strip().upper()
    if upper not in CURRENCIES:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (for example USD, EUR)")
    return upper


def to_minor(amount: Decimal | str, currency: str) -> int:
    """Convert an amount to minor units, refusing more precision than the currency has.

    Raises:
        ValueError: not a number, negative, too precise or absurdly large.
    """
    try:
        value = Decimal(amount) if isinstance(amount, str) else amount
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not a number")
    if value < 0:
        raise ValueError(f"{amount} is negative")
    places = exponent(currency)
    # Bounded by its exponent before anything is scaled or made an int: ``1e999990``
    # would otherwise become a million-digit integer (half a minute of CPU) and
    # ``1e999999`` overflow the decimal context.
    if value and value.adjusted() + places > MAX_MINOR_DIGITS:
        raise ValueError(f"{_shown(amount)} {currency} is too large")
    if value and value.adjusted() < -places:
        raise ValueError(f"{_shown(amount)} has more decimals than {currency} allows")
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows")
    minor = int(scaled)
    if minor > MAX_MINOR:
        raise ValueError(f"{amount} {currency} is too large")
    return minor


def _shown(amount: Decimal | str) -> str:
    """An amount for an error message, never longer than a line."""
    text = str(amount)
    return text if len(text) <= 40 else f"{text[:37]}..."


def from_minor(minor: int, currency: str) -> Decimal:
    """The exact decimal amount of ``minor`` units."""
    return Decimal(minor).scaleb(-exponent(currency))


def format_money(minor: int, currency: str) -> str:
    """``1234`` USD → ``12.34 USD``; always shows the currency's full precision."""
    places = exponent(currency)
    amount = from_minor(minor, currency)
    return f"{amount:,.{places}f} {currency}"


@dataclass(frozen=True, slots=True)
class Rate:
    """A commission as typed by a manager: a percentage or a flat amount."""

    kind: Literal["percent", "flat"]
    value: int  # basis points for percent, minor units for flat
    currency: str | None  # only for flat

    def describe(self) -> str:
        if self.kind == "percent":
            return f"{format_percent(self.value)} of the sale"
        return f"{format_money(self.value, self.currency or '')} per conversion"

    def commission_on(self, amount_minor: int) -> int:
        """Commission in minor units for a sale, rounded half-even to the minor unit."""
        if self.kind == "flat":
            return self.value
        exact = Decimal(amount_minor) * Decimal(self.value) / Decimal(10_000)
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


_PERCENT = re.compile(r"^\s*(\d{1,3}(?:\.\d{1,2})?)\s*%\s*$")
_FLAT = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,4})?)\s*([A-Za-z]{3})\s*$")


def parse_rate(text: str) -> Rate:
    """Parse ``12%``, ``12.5 %`` or ``5 USD`` / ``4.99 eur``.

    Raises:
        ValueError: anything else, with the accepted forms in the message.
    """
    if match := _PERCENT.match(text):
        basis_points = int(Decimal(match.group(1)) * 100)
        if not 0 < basis_points <= 10_000:
            raise ValueError(f"{text.strip()} is not between 0% and 100%")
        return Rate("percent", basis_points, None)
    if match := _FLAT.match(text):
        currency = check_currency(match.group(2))
        minor = to_minor(match.group(1), currency)
        if minor == 0:
            raise ValueError("a flat commission must be more than zero")
        return Rate("flat", minor, currency)
    raise ValueError(
        f"{text!r} is not a commission: write a percentage like 12% or an amount like 5 USD"
    )


def is_amount_with_currency(number: str, unit: str) -> bool:
    """For parsers: ``5`` followed by ``USD`` is one amount, typed without quotes."""
    return bool(re.fullmatch(r"\d+(?:\.\d+)?", number)) and unit.upper() in CURRENCIES


def format_percent(basis_points: int) -> str:
    """``1250`` → ``12.5%``; ``1200`` → ``12%``."""
    value = Decimal(basis_points) / 100
    return f"{value.normalize():f}%"
