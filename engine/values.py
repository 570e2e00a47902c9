"""Reading money and dates from cells, including numbers and dates typed as text.

Only the configured locale and day/month order are used: a value that could mean two
things, or that does not fit them, raises `ValueProblem` with the raw text (invisible
characters shown) so the row is held instead of decided on a guess.

Money rules, for the locale's group symbol G and decimal symbol D:
- spaces of any width (U+0020, U+00A0, U+202F, U+2009) are accepted as thousands
  separators when they split the digits into groups of three;
- a lone G followed by exactly three digits is grouping (`1,234` is 1234 in en_US);
- a lone D followed by exactly three digits is reported as ambiguous (`2.500` in
  en_US, `1,234` in de_DE), because an amount rarely has three decimals;
- a separator that is neither G nor D (`.` in fr_FR) is reported;
- `(300.00)`, `-300.00`, `300.00-` are negative; a lone dash is reported.
Values are returned exact, not rounded to cents: rounding is the ledger's decision.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation

from babel.numbers import (
    NumberFormatError,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
)

from engine.findings import Finding, Severity

SPACES = " \u00a0\u202f\u2009\u2007"
DASHES = "-\u2212\u2013\u2014"
CURRENCY_SIGNS = "€$£¥₩₹₽₺₪₫฿₴"
CURRENCY_CODE = re.compile(r"^[A-Z]{3}(?=[\s\d(\-])|(?<=[\s\d)])[A-Z]{3}$")
SPACE_GROUPED = re.compile(r"^\d{1,3}(?:[" + SPACES + r"]\d{3})+(?=$|[.,])")
INVISIBLE = {
    "\u00a0": "\\u00a0",
    "\u202f": "\\u202f",
    "\u2009": "\\u2009",
    "\u2007": "\\u2007",
    "\u200b": "\\u200b",
    "\ufeff": "\\ufeff",
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
}
ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?$")
DEFAULT_TEXT_FORMATS = {"DMY": "DD/MM/YYYY", "MDY": "MM/DD/YYYY", "YMD": "YYYY/MM/DD"}
EXCEL_EPOCH = {False: dt.date(1899, 12, 30), True: dt.date(1904, 1, 1)}
# Excel shows serial 60 of the 1900 system as 29 February 1900, a day that did not
# exist; python-calamine 0.9.1 returns it as 1900-02-28.
PHANTOM_DAY = dt.date(1900, 2, 28)
# Amounts from 10**13 up cannot be money: Excel shows 15 significant digits, so
# such a cell has no cents left (see check_magnitude).
MAX_AMOUNT = Decimal(10) ** 13


class ValueProblem(ValueError):
    """A cell value that cannot be read unambiguously; `finding` says where and why."""

    def __init__(self, finding: Finding):
        super().__init__(str(finding))
        self.finding = finding


class MissingValue(ValueProblem):
    """An empty cell where a value is needed."""


def show_invisible(text: str) -> str:
    """Return `text` with invisible and non-ASCII spaces spelled out, as in 1\\u00a0234."""
    return "".join(INVISIBLE.get(char, char) for char in text)


def quoted(text: str) -> str:
    return f"'{show_invisible(text)}'"


def parse_money(raw: object, locale: str, *, where: str) -> Decimal:
    """Return the amount in a cell, raising ValueProblem when it is not one clear number."""
    return check_magnitude(read_money(raw, locale, where), raw, where)


def check_magnitude(value: Decimal, raw: object, where: str) -> Decimal:
    """Reject amounts no booking can have: non-finite, or MAX_AMOUNT and beyond.

    Excel keeps 15 significant digits, so a cell of 10**13 or more has lost its cents;
    such a value is a typing or paste error, and Decimal arithmetic on 1e300 overflows
    the default context in later sums.
    """
    if value.is_finite() and abs(value) < MAX_AMOUNT:
        return value
    shown = quoted(raw) if isinstance(raw, str) else format(raw, "g") \
        if isinstance(raw, float) else str(raw)
    raise problem(where, f"{shown} is too large for an amount (the limit is "
                  f"{MAX_AMOUNT:,})", "Type the real amount.")


def read_money(raw: object, locale: str, where: str) -> Decimal:
    if isinstance(raw, bool):
        raise problem(where, f"expected an amount, found {str(raw).upper()}")
    if isinstance(raw, Decimal):
        return raw
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return float_to_decimal(raw, where)
    if raw is None or (isinstance(raw, str) and not raw.strip(SPACES + "'")):
        raise MissingValue(Finding(where, "amount is missing.", "Enter the amount."))
    if not isinstance(raw, str):
        raise problem(where, f"expected an amount, found {type(raw).__name__} {raw!r}")
    return parse_money_text(raw, locale, where)


def float_to_decimal(value: float, where: str) -> Decimal:
    """Convert a numeric cell at Excel's 15 significant digits, the precision it shows."""
    if not math.isfinite(value):
        raise problem(where, f"expected an amount, found {value!r}", "Type the amount.")
    return Decimal(format(value, ".15g"))


def parse_money_text(raw: str, locale: str, where: str) -> Decimal:
    text = raw.strip(SPACES).lstrip("'").strip(SPACES)
    if text and all(char in DASHES for char in text):
        raise problem(where, f"{quoted(raw)} is a dash, not an amount",
                      "Enter 0 or the amount.")
    negative, text = split_sign(text)
    text = strip_currency(text)
    if text.startswith(tuple(DASHES)) and not negative:
        negative, text = True, text[1:].strip(SPACES)
    text = ungroup_spaces(text)
    group, decimal = get_group_symbol(locale), get_decimal_symbol(locale)
    reason = ambiguity(text, group, decimal, locale)
    if reason:
        raise problem(where, f"{quoted(raw)} is {reason}", money_fix(locale))
    try:
        value = parse_decimal(text, locale, strict=True)
    except (NumberFormatError, InvalidOperation):
        raise problem(where, f"{quoted(raw)} is not a number in locale {locale}",
                      money_fix(locale)) from None
    return -value if negative else value


def split_sign(text: str) -> tuple[bool, str]:
    """Strip accounting brackets or a leading or trailing minus."""
    if text.startswith("(") and text.endswith(")"):
        return True, text[1:-1].strip(SPACES)
    if text[:1] in DASHES:
        return True, text[1:].strip(SPACES)
    if text[-1:] in DASHES:
        return True, text[:-1].strip(SPACES)
    return False, text


def strip_currency(text: str) -> str:
    text = text.strip(CURRENCY_SIGNS).strip(SPACES)
    text = CURRENCY_CODE.sub("", text).strip(SPACES)
    return text.strip(CURRENCY_SIGNS).strip(SPACES)


def ungroup_spaces(text: str) -> str:
    match = SPACE_GROUPED.match(text)
    if not match:
        return text
    digits = "".join(char for char in match.group(0) if char.isdigit())
    return digits + text[match.end():]


def ambiguity(text: str, group: str, decimal: str, locale: str) -> str:
    """Return why `text` cannot be read in this locale without a guess, or ''."""
    if any(char in SPACES for char in text):
        return "not a number (spaces that do not separate thousands)"
    separators = {char for char in text if not char.isdigit()}
    foreign = separators - {group, decimal}
    if foreign and all(char in ".," for char in foreign):
        shown = " and ".join(f"'{char}'" for char in sorted(foreign))
        return f"ambiguous: {shown} is not a separator in locale {locale}"
    if re.fullmatch(r"\d{1,3}" + re.escape(decimal) + r"\d{3}", text):
        return (f"ambiguous: '{decimal}' followed by three digits could be a "
                f"thousands separator")
    return ""


def money_fix(locale: str) -> str:
    sample = parse_decimal_sample(locale)
    return f"Enter it as a number, or as text such as {sample} for locale {locale}."


def parse_decimal_sample(locale: str) -> str:
    group, decimal = get_group_symbol(locale), get_decimal_symbol(locale)
    return show_invisible(f"1{group}234{decimal}50")


def parse_date(
    raw: object,
    *,
    date1904: bool,
    date_order: str,
    extra_formats: tuple[str, ...] = (),
    where: str,
    window: tuple[dt.date, dt.date],
) -> dt.date:
    """Return the date in a cell, raising ValueProblem when it is not one clear date.

    Numbers are rejected, not converted: a serial number in a General cell is usually
    a paste from another system, so the fix names the date it would be.
    """
    if isinstance(raw, dt.datetime):
        value = raw.date()
    elif isinstance(raw, dt.date):
        value = raw
    elif isinstance(raw, bool):
        raise problem(where, f"expected a date, found {str(raw).upper()}")
    elif isinstance(raw, (int, float)):
        raise serial_problem(raw, date1904, where)
    elif raw is None or (isinstance(raw, str) and not raw.strip(SPACES + "'")):
        raise MissingValue(Finding(where, "date is missing.", "Enter the date."))
    elif isinstance(raw, str):
        value = parse_date_text(raw, date_order, extra_formats, where)
    else:
        raise problem(where, f"expected a date, found {type(raw).__name__} {raw!r}")
    check_window(value, window, where)
    return value


def serial_problem(raw: float, date1904: bool, where: str) -> ValueProblem:
    shown = format(raw, "g") if isinstance(raw, float) else str(raw)
    fix = "Format the cell as a date"
    if raw == int(raw) and 0 < raw < 2_958_466:
        as_date = EXCEL_EPOCH[date1904] + dt.timedelta(days=int(raw))
        if not date1904 and raw < 61:
            as_date += dt.timedelta(days=1)
        system = "1904" if date1904 else "1900"
        fix += f" (this workbook's {system} date system reads it as {as_date.isoformat()})"
    return problem(where, f"expected a date, found number {shown}", fix + ".")


def parse_date_text(raw: str, date_order: str, extra_formats, where: str) -> dt.date:
    text = raw.strip(SPACES).lstrip("'").strip(SPACES)
    match = ISO_DATE.match(text)
    if match:
        return make_date(raw, int(match[1]), int(match[2]), int(match[3]), where)
    formats = (DEFAULT_TEXT_FORMATS[date_order], *extra_formats)
    for pattern in formats:
        parts = match_format(text, pattern)
        if parts is not None:
            return make_date(raw, parts["Y"], parts["M"], parts["D"], where, pattern)
    if re.search(r"\d", text) and re.fullmatch(r"[\d./\- ]+", text):
        shown = ", ".join(formats)
        raise problem(where, f"{quoted(raw)} does not match the date formats in use "
                      f"({shown} or YYYY-MM-DD)",
                      "Enter the date in one of them, or add its pattern to "
                      "date_formats in rules/workbooks.yaml.")
    raise problem(where, f"{quoted(raw)} is not a date", "Enter a date.")


def date_order_conflict(cells: list[tuple[str, object]], date_order: str,
                        where: str) -> Finding | None:
    """Return one finding when a column's text dates fit day/month in some rows and
    month/day in others, naming the rows of each kind.

    `cells` holds (cell address, raw value) for one column. Each row still gets its
    own finding when it does not fit `date_order`; this one says the column as a
    whole was typed inconsistently, so the rows that do fit may be wrong too.
    """
    only: dict[str, list[str]] = {"DMY": [], "MDY": []}
    for address, raw in cells:
        if not isinstance(raw, str):
            continue
        text = raw.strip(SPACES).lstrip("'").strip(SPACES)
        fits = [order for order in only if fits_order(text, order)]
        if len(fits) == 1:
            only[fits[0]].append(address)
    if not only["DMY"] or not only["MDY"]:
        return None
    return Finding(
        where,
        f"text dates are typed in two orders: {', '.join(only['DMY'])} can only be "
        f"DD/MM/YYYY and {', '.join(only['MDY'])} only MM/DD/YYYY; all are read "
        f"as {DEFAULT_TEXT_FORMATS[date_order]} (date_order {date_order}).",
        "Retype the column's dates as real dates, or all in one order.",
        severity=Severity.WARNING, code="date-order")


def fits_order(text: str, date_order: str) -> bool:
    parts = match_format(text, DEFAULT_TEXT_FORMATS[date_order])
    if parts is None:
        return False
    try:
        dt.date(parts["Y"], parts["M"], parts["D"])
    except ValueError:
        return False
    return True


def match_format(text: str, pattern: str) -> dict[str, int] | None:
    """Match text such as 20.06.2024 against a pattern such as DD.MM.YYYY."""
    separator = next(char for char in pattern if char in "./- ")
    tokens = pattern.split(separator)
    pieces = text.split(separator)
    if len(pieces) != len(tokens):
        return None
    parts = {}
    for token, piece in zip(tokens, pieces):
        width = 4 if token == "YYYY" else 2
        if not piece.isdigit() or not (len(piece) == width or (width == 2 and len(piece) == 1)):
            return None
        parts[token[0]] = int(piece)
    return parts


def make_date(
    raw: str, year: int, month: int, day: int, where: str, pattern: str = "YYYY-MM-DD"
) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise problem(where, f"{quoted(raw)} is not a valid date",
                      f"Check the day and month (read as {pattern}).") from None


def check_window(value: dt.date, window: tuple[dt.date, dt.date], where: str) -> None:
    earliest, latest = window
    if earliest <= value <= latest:
        return
    message = (f"date {value.isoformat()} is outside the plausible range "
               f"{earliest.isoformat()} to {latest.isoformat()}")
    if value == PHANTOM_DAY:
        message += " (Excel may show it as 29 February 1900, a day that did not exist)"
    raise problem(where, message, "Check the year.")


def problem(where: str, message: str, fix: str = "") -> ValueProblem:
    return ValueProblem(Finding(where, message + ".", fix, code="value"))
