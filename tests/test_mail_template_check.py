"""Template check with sample values, and letters whose template never compiled."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from conftest import copy_project
from mail_factories import AS_OF, customer, make_rules, templates_dir

from engine.findings import EngineError, Severity
from engine.mail.letter import REMINDER, Letter, LetterItem
from engine.mail.render import LetterRenderer, TemplateBroken
from engine.mail.samples import sample_context
from engine.rules.check import check_project, load_rules

README_FIX = "Use one of the variables listed in templates/README.md."


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    return Path(shutil.copytree(templates_dir(), tmp_path / "templates"))


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def reminder(customer_id: str, row: int, language: str = "fr") -> Letter:
    person = customer(customer_id, row, language=language, salutation="Madame")
    item = LetterItem(
        item_id=f"INV-{customer_id}",
        order_id=f"ORD-{customer_id}",
        due_date=AS_OF,
        amount=person.credit_limit or make_rules().warning_threshold,
        open_amount=make_rules().warning_threshold,
        currency="EUR",
        days_overdue=10,
        level=1,
    )
    return Letter(
        kind=REMINDER,
        template="reminder_level1",
        as_of=AS_OF,
        recipient_id=customer_id,
        to=(person.email or "x@example.test",),
        language=language,
        level=1,
        customer=person,
        items=(item,),
    )


def test_shipped_templates_pass_with_project_rules():
    root = templates_dir().parent
    rules = load_rules(root)
    assert LetterRenderer(templates_dir(), rules).check() == []


def test_misspelled_variable_is_an_error(templates):
    replace_in(
        templates / "es" / "reminder_level1.txt.j2",
        "customer.contact",
        "customer.contcat",
    )
    findings = LetterRenderer(templates, make_rules()).check()
    assert [f.where for f in findings] == ["templates/es/reminder_level1.txt.j2:1"]
    finding = findings[0]
    assert finding.severity == Severity.ERROR
    assert finding.code == "mail-template-variable"
    assert "'customer.contcat' is undefined" in finding.message
    assert finding.fix == README_FIX
    readme = (templates_dir() / "README.md").read_text(encoding="utf-8")
    assert " ".join(str(finding).split()) in " ".join(readme.split())


def test_unknown_customer_field_is_an_error(templates):
    path = templates / "pt" / "reminder_level1.txt.j2"
    path.write_text(
        path.read_text(encoding="utf-8") + "NIF: {{ customer.vat_id }}\n",
        encoding="utf-8",
    )
    lines = path.read_text(encoding="utf-8").count("\n")
    findings = LetterRenderer(templates, make_rules()).check()
    assert [f.where for f in findings] == [
        f"templates/pt/reminder_level1.txt.j2:{lines}"
    ]
    assert "'customer.vat_id' is undefined" in findings[0].message


@pytest.mark.parametrize(
    ("file", "old", "new", "variable"),
    [
        ("en/digest_manager.txt.j2", "order.reason", "order.reson", "order.reson"),
        ("en/digest_manager.html.j2", "row.reason", "row.raeson", "row.raeson"),
        ("en/digest_salesperson.subject.j2", "salesperson_code", "sales_code", ""),
        ("en/salesperson_notice.html.j2", "decision.outcome", "decision.out", ""),
        ("en/digest_manager.subject.j2", "held | length", "hold | length", "hold"),
        ("de/thank_you.subject.j2", "customer.company", "customer.firma", ""),
        ("fr/reminder_level3.html.j2", "item.invoice_id", "item.invoice", ""),
    ],
)
def test_each_template_kind_is_rendered(templates, file, old, new, variable):
    replace_in(templates / file, old, new)
    findings = LetterRenderer(templates, make_rules()).check()
    assert len(findings) == 1
    assert findings[0].where.startswith(f"templates/{file}:")
    assert f"{variable or new!r} is undefined" in findings[0].message
    assert findings[0].fix == README_FIX


def test_optional_variable_passes(templates):
    path = templates / "en" / "thank_you.txt.j2"
    path.write_text(
        path.read_text(encoding="utf-8")
        + "{% if customer.vat_id is defined %}{{ customer.vat_id }}{% endif %}\n"
        + "{{ customer.vat_id | default('') }}\n",
        encoding="utf-8",
    )
    assert LetterRenderer(templates, make_rules()).check() == []


def test_check_project_reports_variable(tmp_path):
    project = copy_project(tmp_path / "project")
    replace_in(
        project / "templates" / "es" / "reminder_level1.txt.j2",
        "customer.contact",
        "customer.contcat",
    )
    findings = check_project(project)
    wheres = [f.where for f in findings if f.code == "mail-template-variable"]
    assert wheres == ["templates/es/reminder_level1.txt.j2:1"]


def test_sample_context_matches_real_reminder():
    context = sample_context("reminder_level2", "de", make_rules())
    assert context["level"] == 2
    assert context["invoice"]["invoice_id"] == "INV-1001"
    assert {"salutation", "contact", "company"} <= set(context["customer"])


def test_first_run_broken_template_check_fix(templates):
    (templates / "fr" / "reminder_level1.txt.j2").write_text(
        "Bonjour }}\n{% if %}\n", encoding="utf-8"
    )
    findings = LetterRenderer(templates, make_rules()).check()
    assert [f.where for f in findings] == ["templates/fr/reminder_level1.txt.j2:2"]
    assert findings[0].fix == (
        "Correct the template. Until it compiles, the letters that use it are not sent."
    )
    assert "last good" not in str(findings[0])


def test_first_run_broken_template_names_letters(templates):
    (templates / "fr" / "reminder_level1.txt.j2").write_text(
        "Bonjour\n{% if %}\n", encoding="utf-8"
    )
    renderer = LetterRenderer(templates, make_rules())
    letters = [reminder("6627-ELFBK", 5), reminder("7946-HJDUR", 9)]
    english = dataclasses.replace(
        reminder("1000-AAAAA", 2, "en"),
        customer=customer("1000-AAAAA", 2, language="en", salutation="Dear"),
    )
    messages, findings = renderer.render_letters([*letters, english])
    assert [letter.recipient_id for letter, _ in messages] == ["1000-AAAAA"]
    expected = (
        "templates/fr/reminder_level1.txt.j2:2: the template does not compile: "
        "Expected an expression, got 'end of statement block', and no earlier "
        "version compiled, so 2 letters are not sent: reminder to 6627-ELFBK, "
        "reminder to 7946-HJDUR. Correct the template. These letters go out on the "
        "first pass after it compiles."
    )
    assert [str(f) for f in findings] == [expected]


def test_first_run_broken_template_single_letter(templates):
    (templates / "fr" / "reminder_level1.txt.j2").write_text(
        "Bonjour\n{% if %}\n", encoding="utf-8"
    )
    renderer = LetterRenderer(templates, make_rules())
    with pytest.raises(TemplateBroken) as caught:
        renderer.render(reminder("6627-ELFBK", 5))
    assert str(caught.value.findings[0]) == (
        "templates/fr/reminder_level1.txt.j2:2: the template does not compile: "
        "Expected an expression, got 'end of statement block', and no earlier "
        "version compiled, so the letter to customer 6627-ELFBK "
        "(customers.xlsx › Customers › row 5) is not sent. Correct the template. "
        "The letter goes out on the first pass after it compiles."
    )


def test_readme_sample_matches_real_message(templates):
    renderer = LetterRenderer(templates, make_rules())
    person = customer("C001", 2, language="de", salutation=None)
    letter = dataclasses.replace(
        reminder("C001", 2, "de"),
        customer=person,
        template="reminder_level2",
        level=2,
    )
    with pytest.raises(EngineError) as caught:
        renderer.render(letter)
    readme = (templates_dir() / "README.md").read_text(encoding="utf-8")
    assert " ".join(str(caught.value.findings[0]).split()) in " ".join(readme.split())
