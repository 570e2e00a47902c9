"""The letters' money format against Babel's `format_currency`, for many locales."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from babel import Locale
from babel.numbers import format_currency

from engine.mail.formatting import format_money, round_money

LANGUAGES = (
    "en", "en_GB", "en_IN", "de", "de_CH", "fr", "fr_CH", "es", "pt", "pt_BR", "it",
    "nl", "sv", "pl", "cs", "ja", "ar", "he", "hi", "tr", "ru", "fa", "ko", "th",
)
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "BHD", "INR", "SEK", "CLF", "XXX")


def babel_text(value: Decimal, currency: str, language: str) -> str:
    """Return the amount as `format_currency` writes it, with plain spaces."""
    amount = round_money(value, currency)
    text = format_currency(
        amount, currency, locale=Locale.parse(language), decimal_quantization=False
    )
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def amounts() -> list[Decimal]:
    rng = random.Random(20130603)
    values = [
        Decimal(0), Decimal("-0"), Decimal("0.005"), Decimal("-0.005"),
        Decimal("1000.005"), Decimal("999999999.995"), Decimal("-1234567.891"),
        Decimal("12.3456789"), Decimal("1E+3"), Decimal("5E-7"),
    ]
    for _ in range(60):
        digits = rng.randint(0, 12)
        values.append(Decimal(rng.randint(-(10**digits), 10**digits)).scaleb(-3))
    return values


@pytest.mark.parametrize("language", LANGUAGES)
def test_money_shortcut_matches_babel(language):
    for currency in CURRENCIES:
        for value in amounts():
            expected = babel_text(value, currency, language)
            assert format_money(value, currency, language) == expected, (
                language,
                currency,
                value,
            )

