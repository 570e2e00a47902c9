"""Caches of the mail stage: compiled templates and the manager digest's chart."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from mail_factories import make_rules, templates_dir

from engine.mail import digest
from engine.mail.digest import BUCKETS, cached_aging_chart
from engine.mail.formatting import (
    _format_money_uncached,
    format_local_date,
    format_money,
)
from engine.mail.render import LetterRenderer


def aging(amount: int) -> list[dict]:
    return [
        {"salesperson": code, **{bucket: Decimal(amount) for bucket in BUCKETS}}
        for code in ("S01", "S02")
    ]


@pytest.fixture
def drawn(monkeypatch) -> list[str]:
    """Record each chart drawn, with a stand-in for the Pillow drawing."""
    calls: list[str] = []

    def draw(rows, currency):
        calls.append(currency)
        return f"png {rows[0][BUCKETS[0]]} {currency}".encode()

    monkeypatch.setattr(digest, "aging_chart_png", draw)
    return calls


def test_chart_drawn_once_per_data(tmp_path, drawn):
    first = cached_aging_chart(aging(10), "EUR", tmp_path)
    again = cached_aging_chart(aging(10), "EUR", tmp_path)
    assert first == again == b"png 10 EUR"
    assert drawn == ["EUR"]


def test_chart_redrawn_when_data_changes(tmp_path, drawn):
    cached_aging_chart(aging(10), "EUR", tmp_path)
    changed = cached_aging_chart(aging(11), "EUR", tmp_path)
    other_currency = cached_aging_chart(aging(11), "USD", tmp_path)
    assert changed == b"png 11 EUR"
    assert other_currency == b"png 11 USD"
    assert drawn == ["EUR", "EUR", "USD"]
    assert len(list(tmp_path.glob("aging-chart-*.png"))) == 1


def test_chart_without_cache_is_drawn_each_time(drawn):
    cached_aging_chart(aging(10), "EUR", None)
    cached_aging_chart(aging(10), "EUR", None)
    assert drawn == ["EUR", "EUR"]


def test_real_chart_same_bytes_from_cache(tmp_path):
    drawn = digest.aging_chart_png(aging(10), "EUR")
    cached_aging_chart(aging(10), "EUR", tmp_path)
    assert cached_aging_chart(aging(10), "EUR", tmp_path) == drawn


def test_template_cache_keeps_compiled_templates(tmp_path):
    cache = tmp_path / "cache"
    assert LetterRenderer(templates_dir(), make_rules(), cache_dir=cache).check() == []
    assert list(cache.iterdir())
    assert LetterRenderer(templates_dir(), make_rules(), cache_dir=cache).check() == []


def test_template_cache_compiles_edited_template(tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(templates_dir(), templates)
    cache = tmp_path / "cache"
    subject = Path(templates / "en" / "thank_you.subject.j2")
    LetterRenderer(templates, make_rules(), cache_dir=cache).check()
    subject.write_text("Thank you {{ customer.nme }}\n", encoding="utf-8")
    findings = LetterRenderer(templates, make_rules(), cache_dir=cache).check()
    assert any("customer.nme" in finding.message for finding in findings)


def test_formatting_cache_keeps_values_apart():
    """Equal values of another type or sign are formatted on their own."""
    for value in (Decimal(0), 0, Decimal("-0"), 0.0, -0.0):
        expected = _format_money_uncached(value, "EUR", "en")
        assert format_money(value, "EUR", "en") == expected, value
    assert format_money(1000.005, "EUR", "en") == "€1,000.01"
    assert format_money(Decimal("1000.005"), "EUR", "de") == "1.000,01 €"
    assert format_money(1000, "JPY", "en") == "¥1,000"
    assert format_local_date("2024-06-01", "de") == "01.06.2024"
    assert format_local_date("2024-06-01", "en") == "Jun 1, 2024"
