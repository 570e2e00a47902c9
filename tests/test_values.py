"""Money and dates typed as text: each locale reads only what it can read unambiguously."""

import datetime as dt
from decimal import Decimal

import pytest

from engine.values import MissingValue, ValueProblem, parse_date, parse_money, show_invisible

WINDOW = (dt.date(2000, 1, 1), dt.date(2044, 12, 31))


@pytest.mark.parametrize(
    "raw, locale, expected",
    [
        ("1,234.50", "en_US", Decimal("1234.50")),
        ("1.234,50", "de_DE", Decimal("1234.50")),
        ("1\u00a0234,50", "de_DE", Decimal("1234.50")),
        ("1\u202f234,50", "fr_FR", Decimal("1234.50")),
        ("¥1 200", "en_US", Decimal("1200")),
        ("€ 2.500", "de_DE", Decimal("2500")),
        ("2500 ", "en_US", Decimal("2500")),
        ("(300.00)", "en_US", Decimal("-300.00")),
        ("300.00-", "en_US", Decimal("-300.00")),
        ("1,234", "en_US", Decimal("1234")),
        ("'4000", "en_US", Decimal("4000")),
        ("EUR 12.50", "en_US", Decimal("12.50")),
        (4000.0, "de_DE", Decimal("4000")),
        (0.1 + 0.2, "en_US", Decimal("0.3")),
        (7, "en_US", Decimal("7")),
    ],
)
def test_money_read(raw, locale, expected):
    value = parse_money(raw, locale, where="X")
    assert value == expected
    assert isinstance(value, Decimal)


@pytest.mark.parametrize(
    "raw, locale, message",
    [
        ("-", "en_US", "X: '-' is a dash, not an amount."),
        ("1,234", "de_DE", "X: '1,234' is ambiguous: ',' followed by three digits "
         "could be a thousands separator."),
        ("€ 2.500", "en_US", "X: '€ 2.500' is ambiguous: '.' followed by three digits "
         "could be a thousands separator."),
        ("12,34.56", "en_US", "X: '12,34.56' is not a number in locale en_US."),
        ("1.5k", "de_DE", "X: '1.5k' is not a number in locale de_DE."),
        ("1\u00a0234,50", "en_US", "X: '1\\u00a0234,50' is not a number in locale en_US."),
        ("1.234,50", "fr_FR", "X: '1.234,50' is ambiguous: '.' is not a separator in "
         "locale fr_FR."),
        (True, "en_US", "X: expected an amount, found TRUE."),
    ],
)
def test_money_rejected(raw, locale, message):
    with pytest.raises(ValueProblem) as caught:
        parse_money(raw, locale, where="X")
    assert f"{caught.value.finding.where}: {caught.value.finding.message}" == message


def test_money_missing():
    with pytest.raises(MissingValue):
        parse_money("  ", "en_US", where="X")


def test_show_invisible():
    assert show_invisible("1\u00a0234,50\u202f") == "1\\u00a0234,50\\u202f"


def read_date(raw, order="DMY", formats=()):
    return parse_date(raw, date1904=False, date_order=order, extra_formats=formats,
                      where="C", window=WINDOW)


@pytest.mark.parametrize(
    "raw, order, formats, expected",
    [
        ("01/06/2024", "DMY", (), dt.date(2024, 6, 1)),
        ("01/06/2024", "MDY", (), dt.date(2024, 1, 6)),
        ("13/06/2024", "DMY", (), dt.date(2024, 6, 13)),
        ("20.06.2024", "DMY", ("DD.MM.YYYY",), dt.date(2024, 6, 20)),
        ("2024-06-20 ", "MDY", (), dt.date(2024, 6, 20)),
        ("2024/06/20", "YMD", (), dt.date(2024, 6, 20)),
        (dt.datetime(2024, 6, 1, 13, 30), "DMY", (), dt.date(2024, 6, 1)),
    ],
)
def test_date_read(raw, order, formats, expected):
    assert read_date(raw, order, formats) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("06/13/2024", "C: '06/13/2024' is not a valid date. Check the day and month "
         "(read as DD/MM/YYYY)."),
        ("31/06/2024", "C: '31/06/2024' is not a valid date. Check the day and month "
         "(read as DD/MM/YYYY)."),
        ("20.06.2024", "C: '20.06.2024' does not match the date formats in use "
         "(DD/MM/YYYY or YYYY-MM-DD). Enter the date in one of them, or add its pattern "
         "to date_formats in rules/workbooks.yaml."),
        ("sofort", "C: 'sofort' is not a date. Enter a date."),
        (45444, "C: expected a date, found number 45444. Format the cell as a date "
         "(this workbook's 1900 date system reads it as 2024-06-01)."),
        (dt.date(2204, 6, 1), "C: date 2204-06-01 is outside the plausible range "
         "2000-01-01 to 2044-12-31. Check the year."),
        (dt.date(1900, 2, 28), "C: date 1900-02-28 is outside the plausible range "
         "2000-01-01 to 2044-12-31 (Excel may show it as 29 February 1900, a day that "
         "did not exist). Check the year."),
    ],
)
def test_date_rejected(raw, message):
    with pytest.raises(ValueProblem) as caught:
        read_date(raw)
    assert str(caught.value.finding) == message


def test_date_serial_hint_1904():
    with pytest.raises(ValueProblem) as caught:
        parse_date(43982.0, date1904=True, date_order="MDY", where="H2", window=WINDOW)
    assert str(caught.value.finding) == (
        "H2: expected a date, found number 43982. Format the cell as a date (this "
        "workbook's 1904 date system reads it as 2024-06-01).")


def test_date_missing():
    with pytest.raises(MissingValue):
        read_date(None)
