"""Exact money: currencies' minor units, commission parsing and rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commands.core.money import (
    Rate,
    check_currency,
    format_money,
    format_percent,
    from_minor,
    parse_rate,
    to_minor,
)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.34", "USD", 1234), ("1000", "JPY", 1000), ("1.234", "BHD", 1234), ("0", "EUR", 0)],
)
def test_minor_units_follow_the_currency(amount: str, currency: str, minor: int) -> None:
    assert to_minor(amount, currency) == minor
    assert from_minor(minor, currency) == Decimal(amount)


@pytest.mark.parametrize(
    ("amount", "currency", "problem"),
    [
        ("1.5", "JPY", "more decimals than JPY allows"),
        ("0.001", "USD", "more decimals"),
        ("-1", "USD", "negative"),
        ("abc", "USD", "not a number"),
        ("NaN", "USD", "not a number"),
        ("1e20", "USD", "too large"),
    ],
)
def test_bad_amounts_are_refused(amount: str, currency: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        to_minor(amount, currency)


def test_currency_codes() -> None:
    assert check_currency(" eur ") == "EUR"
    with pytest.raises(ValueError, match="ISO 4217"):
        check_currency("BTC")


def test_formatting() -> None:
    assert format_money(123456, "USD") == "1,234.56 USD"
    assert format_money(5, "JPY") == "5 JPY"
    assert format_percent(1250) == "12.5%"
    assert format_percent(1200) == "12%"


def test_parse_rate_forms() -> None:
    assert parse_rate("12%") == Rate("percent", 1200, None)
    assert parse_rate("12.5 %") == Rate("percent", 1250, None)
    assert parse_rate("4.99 eur") == Rate("flat", 499, "EUR")
    for bad in ("0%", "101%", "12", "5 BTC", "0 USD", "1.5 JPY", "12.345%", "-5%"):
        with pytest.raises(ValueError, match=r"\S"):
            parse_rate(bad)


def test_percent_commission_rounds_half_even_to_the_minor_unit() -> None:
    rate = parse_rate("12.5%")
    assert rate.commission_on(1000) == 125
    assert rate.commission_on(4) == 0  # 0.5 cents → 0 (half-even)
    assert rate.commission_on(12) == 2  # 1.5 cents → 2
    assert parse_rate("5 USD").commission_on(999_999) == 500
