"""The Reason cell's amount formatter against Babel's own format_decimal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.rules.money import AmountFormatter

LOCALES = ("en_US", "de_DE", "fr_FR", "pt_BR", "de_CH", "en_IN")
amounts = st.decimals(
    min_value=Decimal("-1e12"),
    max_value=Decimal("1e12"),
    allow_nan=False,
    allow_infinity=False,
    places=4,
)


@pytest.mark.parametrize("locale", LOCALES)
@settings(max_examples=300, deadline=None)
@given(value=amounts)
def test_formatter_matches_babel(locale, value):
    formatter = AmountFormatter(locale)
    assert formatter(value) == format_decimal(value, "#,##0.00", locale=locale)


def test_half_even_rounding():
    formatter = AmountFormatter("en_US")
    assert formatter(Decimal("1000.005")) == "1,000.00"
    assert formatter(Decimal("1000.015")) == "1,000.02"


def test_four_places_for_rates():
    assert AmountFormatter("en_US", 4)(Decimal("1.08")) == "1.0800"
    assert AmountFormatter("de_DE", 4)(Decimal("1.08")) == "1,0800"
