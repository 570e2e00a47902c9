"""Letter rendering: strict undefined variables, autoescape by type, Babel money."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from mail_factories import AS_OF, customer, make_rules, templates_dir

from engine.findings import EngineError
from engine.mail.formatting import format_money
from engine.mail.letter import REMINDER, Letter, LetterItem
from engine.mail.render import LetterRenderer

CASE22 = Path(__file__).parent / "data" / "mail" / "case22"


def case22_templates(tmp_path: Path) -> Path:
    """Lay out the finance-written level-2 templates for every language the contexts use."""
    root = tmp_path / "templates"
    for language in ("de", "en", "ja"):
        folder = root / language
        folder.mkdir(parents=True)
        for path in CASE22.glob("*.j2"):
            shutil.copy(path, folder / path.name)
        (folder / "reminder_level2.subject.j2").write_text(
            "Zahlungserinnerung – {{ invoice.id }}\n", encoding="utf-8"
        )
    return root


def case22_letter(name: str, row: int) -> Letter:
    """Build a letter from one context of contexts.json as sheet rows would give it."""
    context = json.loads((CASE22 / "contexts.json").read_text(encoding="utf-8"))[name]
    values = context["customer"]
    invoice = context["invoice"]
    cust = customer(
        name.split("_")[0],
        row,
        name=values["company"],
        contact=values["contact"],
        salutation=values.get("salutation"),
        language=values["language"],
        currency=invoice["currency"],
    )
    item = LetterItem(
        item_id=invoice["id"],
        order_id="ORD-1",
        due_date=dt.date.fromisoformat(invoice["due_date"]),
        amount=Decimal(str(invoice["balance"])),
        open_amount=Decimal(str(invoice["balance"])),
        currency=invoice["currency"],
        days_overdue=invoice["days_overdue"],
        level=2,
    )
    return Letter(
        kind=REMINDER,
        template="reminder_level2",
        as_of=AS_OF,
        recipient_id=cust.customer_id,
        to=(cust.email,),
        language=cust.language,
        level=2,
        customer=cust,
        items=(item,),
        context={"salesperson": context["salesperson"]},
    )


@pytest.fixture
def renderer(tmp_path: Path) -> LetterRenderer:
    return LetterRenderer(case22_templates(tmp_path), make_rules())


def compile_errors(renderer: LetterRenderer) -> list:
    """Return check() findings about compiling only.

    The case-22 templates use `salesperson.name`, which the tests pass in but a
    real pass does not, so check() also reports that variable.
    """
    return [f for f in renderer.check() if f.code == "mail-template-invalid"]


def parts(message) -> tuple[str, str]:
    return (
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    )


def test_missing_salutation_fails_one_letter(renderer):
    letter = case22_letter("C001_missing_salutation_and_salesperson", 2)
    with pytest.raises(EngineError) as caught:
        renderer.render(letter)
    assert str(caught.value.findings[0]) == (
        "customers.xlsx › Customers › row 2: customer C001 has no salutation, which "
        "templates/de/reminder_level2.html.j2 line 1 uses as customer.salutation, so "
        "the letter was not rendered. Fill in the salutation of this customer in the "
        "sheet, or remove the variable from the template."
    )
    # The other customers' letters still render.
    renderer.render(case22_letter("C003_markup_in_company", 4))


def test_autoescape_html_only(renderer):
    text, html = parts(renderer.render(case22_letter("C003_markup_in_company", 4)))
    assert "Smith &amp; Sons &lt;Travel&gt;" in html
    assert "Smith & Sons <Travel>" in text
    assert "€1,500.00" in text


def test_apostrophe_and_half_up_rounding(renderer):
    text, html = parts(
        renderer.render(case22_letter("C004_apostrophe_and_rounding", 5))
    )
    assert "Ana O'Neil" in text
    assert "Ana O&#39;Neil" in html
    assert "€1,000.01" in text
    assert "€1,000.01" in html


def test_yen_without_decimals(renderer):
    text, _ = parts(renderer.render(case22_letter("C002_yen", 3)))
    assert "￥250,000" in text


@pytest.mark.parametrize(
    ("amount", "currency", "language", "expected"),
    [
        ("4000", "EUR", "de", "4.000,00 €"),
        ("1500", "EUR", "en", "€1,500.00"),
        (1000.005, "EUR", "en", "€1,000.01"),
        (Decimal("1000.005"), "EUR", "de", "1.000,01 €"),
        (Decimal("2.675"), "EUR", "en", "€2.68"),
        ("250000", "JPY", "en", "¥250,000"),
        ("1234.5", "EUR", "fr", "1 234,50 €"),
        ("1234.5", "EUR", "es", "1.234,50 €"),
        ("1234.5", "EUR", "pt", "€ 1.234,50"),
        ("99.5", "USD", "xx", "$99.50"),
    ],
)
def test_money_per_locale(amount, currency, language, expected):
    assert format_money(amount, currency, language) == expected


def test_german_dates_in_letter(renderer):
    letter = case22_letter("C003_markup_in_company", 4)
    german = dataclasses.replace(letter.customer, language="de")
    letter = dataclasses.replace(letter, customer=german, language="de")
    # The finance template prints the due date only in the HTML part.
    _, html = parts(renderer.render(letter))
    assert "20.06.2024" in html


def test_syntax_error_keeps_last_good(tmp_path):
    root = case22_templates(tmp_path)
    renderer = LetterRenderer(root, make_rules())
    assert compile_errors(renderer) == []
    letter = case22_letter("C003_markup_in_company", 4)
    before = parts(renderer.render(letter))[0]

    (root / "en" / "reminder_level2.txt.j2").write_text(
        "Hello\n{% for x in items %}\n{{ x.id | shout }}\n{% endfor %}\n",
        encoding="utf-8",
    )
    findings = compile_errors(renderer)
    assert [f.where for f in findings] == ["templates/en/reminder_level2.txt.j2:3"]
    assert "No filter named 'shout'" in findings[0].message
    assert findings[0].fix.endswith("Until then the last good version is used.")
    assert parts(renderer.render(letter))[0] == before


def test_unknown_filter_reported_with_line(tmp_path):
    root = case22_templates(tmp_path)
    (root / "de" / "reminder_level2.html.j2").write_text(
        "<p>ok</p>\n<p>{{ invoice.balance | moneyy }}</p>\n", encoding="utf-8"
    )
    findings = compile_errors(LetterRenderer(root, make_rules()))
    assert [f.where for f in findings] == ["templates/de/reminder_level2.html.j2:2"]


def test_syntax_error_reported_with_line(tmp_path):
    root = case22_templates(tmp_path)
    (root / "de" / "reminder_level2.txt.j2").write_text(
        "a\nb\n{% if %}\n", encoding="utf-8"
    )
    findings = LetterRenderer(root, make_rules()).check()
    assert findings[0].where == "templates/de/reminder_level2.txt.j2:3"
    assert findings[0].code == "mail-template-invalid"


@pytest.mark.parametrize("name", ["../secret", "/etc/passwd", "en/../../x"])
def test_template_name_outside_templates(tmp_path, name):
    renderer = LetterRenderer(case22_templates(tmp_path), make_rules())
    letter = case22_letter("C003_markup_in_company", 4)
    letter = dataclasses.replace(letter, template=name)
    with pytest.raises(EngineError) as caught:
        renderer.render(letter)
    assert caught.value.findings[0].code == "mail-template-name"


def test_newline_in_name_rejected(tmp_path):
    renderer = LetterRenderer(templates_dir(), make_rules())
    letter = case22_letter("C003_markup_in_company", 4)
    bad = customer("C003", 4, contact="Eve\r\nBcc: victim@example.test", language="en")
    letter = dataclasses.replace(letter, customer=bad, template="reminder_level1")
    with pytest.raises(EngineError) as caught:
        renderer.render(letter)
    finding = caught.value.findings[0]
    assert finding.code == "mail-header-injection"
    assert finding.where == "customer C003 (customers.xlsx › Customers › row 4)"


def test_newline_in_address_rejected(tmp_path):
    renderer = LetterRenderer(templates_dir(), make_rules())
    letter = case22_letter("C003_markup_in_company", 4)
    letter = dataclasses.replace(
        letter, to=("a@example.test\nBcc: b@example.test",), template="reminder_level1"
    )
    with pytest.raises(EngineError) as caught:
        renderer.render(letter)
    assert caught.value.findings[0].code == "mail-header-injection"


def test_shipped_templates_compile():
    renderer = LetterRenderer(templates_dir(), make_rules())
    assert renderer.check() == []
    for language in ("en", "de", "fr", "es", "pt"):
        for name in (
            "reminder_level1",
            "reminder_level2",
            "reminder_level3",
            "thank_you",
        ):
            for part in ("subject", "txt", "html"):
                assert (templates_dir() / language / f"{name}.{part}.j2").is_file()


def test_unknown_language_falls_back_to_english():
    renderer = LetterRenderer(templates_dir(), make_rules())
    assert renderer.language_for("reminder_level1", "ja") == "en"
    assert renderer.language_for("reminder_level1", "de-AT") == "de"
    assert renderer.language_for("reminder_level1", "pt_BR") == "pt"
