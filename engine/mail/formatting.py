"""Money and date formatting for letters, through Babel, in the letter's locale.

Amounts are rounded half-up on the `Decimal` value to the currency's minor unit
before Babel formats them (Babel itself rounds half-even), so 1000.005 EUR shows as
€1,000.01 and yen show no decimals.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import (
    NumberPattern,
    format_currency,
    get_currency_precision,
    get_currency_symbol,
)

# Letters repeat the same amounts, dates and locales many times in a pass, and each
# Babel call parses its locale and pattern again, so results are kept per value.
_CACHE_SIZE = 8192

# Babel separates amount and symbol with a no-break space (U+00A0) or a narrow
# no-break space (U+202F). Letters use a plain space (`_plain_spaces`), so that
# finance can search the outbox and the mail client for "4.000,00 €" as typed.


def parse_locale(language: str | None) -> Locale | None:
    """Return the Babel locale for a language code such as "de", "pt-BR" or "en_GB"."""
    if isinstance(language, str):
        return _parse_locale(language)
    return _parse_locale_uncached(language)


@lru_cache(maxsize=256)
def _parse_locale(language: str) -> Locale | None:
    return _parse_locale_uncached(language)


def _parse_locale_uncached(language: object) -> Locale | None:
    if not language:
        return None
    try:
        return Locale.parse(language.strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


def to_decimal(value: object) -> Decimal:
    """Return `value` as a Decimal; a float goes through its shortest repr (1000.005)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value))
    except InvalidOperation as error:
        raise ValueError(f"not an amount: {value!r}") from error


def round_money(value: object, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit (2 for EUR, 0 for JPY)."""
    places = get_currency_precision(currency)
    return to_decimal(value).quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP
    )


def format_money(value: object, currency: str, language: str | None) -> str:
    """Format an amount as the letter's locale writes it: `4.000,00 €`, `€1,500.00`."""
    # The key contains the type and the text, so 1.0 and Decimal("1.0"), or 0 and -0,
    # never share a result.
    try:
        return _format_money(type(value), str(value), value, currency, language)
    except TypeError:  # an unhashable argument
        return _format_money_uncached(value, currency, language)


@lru_cache(maxsize=_CACHE_SIZE)
def _format_money(
    kind: type, text: str, value: object, currency: str, language: str | None
) -> str:
    return _format_money_uncached(value, currency, language)


def _format_money_uncached(value: object, currency: str, language: str | None) -> str:
    locale = parse_locale(language) or Locale.parse("en")
    amount = round_money(value, currency)
    shortcut = _currency_pattern(currency, locale)
    if shortcut is None:
        text = format_currency(
            amount, currency, locale=locale, decimal_quantization=False
        )
    else:
        pattern, symbol = shortcut
        text = pattern.apply(amount, locale, decimal_quantization=False)
        text = text.replace("¤", symbol)
    return _plain_spaces(text)


def _plain_spaces(text: str) -> str:
    # Two replace calls take a fraction of the time of `str.translate` with a dict.
    return text.replace("\u00a0", " ").replace("\u202f", " ")


@lru_cache(maxsize=256)
def _currency_pattern(currency: str, locale: Locale) -> tuple[NumberPattern, str] | None:
    """Return the locale's currency pattern with the currency's decimals, and its symbol.

    `format_currency` gives the same text as this pattern applied without a
    currency, with the symbol put in place of the sign ¤ afterwards. It also looks
    up the currency's plural name for each amount, which a pattern without ¤¤¤
    never shows. Returns None where the two could differ: a pattern with ¤¤ or
    ¤¤¤, or a symbol with a quote, which Babel removes as pattern quoting.
    """
    pattern = locale.currency_formats["standard"]
    affixes = "".join(pattern.prefix + pattern.suffix)
    symbol = get_currency_symbol(currency, locale)
    if "¤¤" in affixes or "'" in symbol:
        return None
    places = get_currency_precision(currency)
    pattern = copy.copy(pattern)
    pattern.frac_prec = (places, places)
    return pattern, symbol


def format_local_date(value: dt.date | str, language: str | None) -> str:
    """Format a date as the letter's locale writes it: `01.06.2024`, `Jun 1, 2024`."""
    try:
        return _format_local_date(type(value), value, language)
    except TypeError:  # an unhashable argument
        return _format_local_date_uncached(value, language)


@lru_cache(maxsize=_CACHE_SIZE)
def _format_local_date(kind: type, value: dt.date | str, language: str | None) -> str:
    return _format_local_date_uncached(value, language)


def _format_local_date_uncached(value: dt.date | str, language: str | None) -> str:
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    locale = parse_locale(language) or Locale.parse("en")
    return _plain_spaces(format_date(value, "medium", locale=locale))


def trim_period(text: object) -> str:
    """Return text without one final period, for a name placed before a full stop.

    A company such as "Viajes Muñoz S.L." at the end of a sentence would otherwise
    print as "S.L..".
    """
    value = str(text).rstrip()
    return value[:-1] if value.endswith(".") and not value.endswith("..") else value
