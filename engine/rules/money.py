"""Amounts written the way the Reason cell shows them, with Babel's locale data.

Babel's `format_decimal(x, "#,##0.00", locale=...)` takes about 7 µs per call (Babel
2.x, measured on a 2-core AMD EPYC), more than a whole decision may cost. For most
locales the same text comes from Decimal's own exact `,.2f` formatting with Babel's
group, decimal and minus symbols swapped in. The formatter compares both paths on
probe amounts when it is built and uses Babel itself where they differ (de_CH, for
example). Both round half to even, and tests/test_rules_money.py compares the two
paths on random amounts.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from babel import Locale
from babel.numbers import (
    format_decimal,
    get_decimal_symbol,
    get_group_symbol,
    get_minus_sign_symbol,
    parse_pattern,
)

PROBES = tuple(
    Decimal(text)
    for text in ("0", "-0.001", "7.005", "1000", "-1234567.125", "98765432109.995")
)
CACHE_SIZE = 65_536
_FORMATTERS: dict[tuple[str, int], "AmountFormatter"] = {}


class AmountFormatter:
    """Formats Decimals with a fixed number of decimal places for one locale."""

    def __init__(self, locale: str, places: int = 2):
        self.locale = Locale.parse(locale)
        self.places = places
        self.pattern = "#,##0." + "0" * places if places else "#,##0"
        self.quantum = Decimal(1).scaleb(-places)
        self.spec = f",.{places}f"
        self.fast = False
        # Limits and common amounts repeat across orders; Decimal(1) and Decimal("1.0")
        # are equal keys, but both round to the same text, so sharing is safe.
        self.cache: dict[Decimal, str] = {}
        symbols = {
            ",": get_group_symbol(self.locale),
            ".": get_decimal_symbol(self.locale),
            "-": get_minus_sign_symbol(self.locale),
        }
        # str.translate takes several times as long as the formatting (Python 3.11),
        # so skip it where the locale's symbols are Python's own (en_US, for example).
        self.table = (
            None
            if all(key == value for key, value in symbols.items())
            else str.maketrans(symbols)
        )
        # Use the fast path only where it gives Babel's text on probe amounts.
        grouping = parse_pattern(self.pattern).grouping
        self.fast = grouping == (3, 3) and all(
            self._fast(probe) == format_decimal(probe, self.pattern, locale=self.locale)
            for probe in PROBES
        )

    def _fast(self, value: Decimal) -> str:
        rounded = value.quantize(self.quantum, rounding=ROUND_HALF_EVEN)
        text = format(rounded, self.spec)
        return text if self.table is None else text.translate(self.table)

    def __call__(self, value: Decimal) -> str:
        text = self.cache.get(value)
        if text is not None:
            return text
        if len(self.cache) >= CACHE_SIZE:
            self.cache.clear()
        if self.fast:
            text = self._fast(value)
        else:
            text = format_decimal(value, self.pattern, locale=self.locale)
        self.cache[value] = text
        return text


def amount_formatter(locale: str, places: int = 2) -> AmountFormatter:
    """Return a shared formatter for `locale` with `places` decimal places."""
    key = (locale, places)
    formatter = _FORMATTERS.get(key)
    if formatter is None:
        formatter = _FORMATTERS[key] = AmountFormatter(locale, places)
    return formatter
