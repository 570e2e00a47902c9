"""Letter wording: earlier reminders are claimed only when the send ledger has them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from dataclasses import dataclass

import pytest
from mail_factories import (
    AS_OF,
    customer,
    invoice,
    ledger_for,
    make_rules,
    record_sent_reminder,
    send_ledger,
    templates_dir,
)

from engine.findings import EngineError
from engine.mail import (
    LetterRenderer,
    plan_reminders,
    plan_salesperson_notices,
    plan_thank_you_notes,
)

COMPANY = "Viajes Muñoz S.L."

# The sentence after the salutation of a level-3 letter, by earlier reminders sent.
LEVEL3_INTRO = {
    "en": {
        0: f"the following invoices of {COMPANY} are overdue and still unpaid. This is "
        "our final reminder:",
        1: f"the following invoices of {COMPANY} remain unpaid after our earlier "
        "reminder. This is our final reminder:",
        2: f"the following invoices of {COMPANY} remain unpaid after our earlier "
        "reminders. This is our final reminder:",
    },
    "de": {
        0: f"für {COMPANY} sind folgende Rechnungen überfällig und weiterhin offen. "
        "Dies ist unsere letzte Mahnung:",
        1: f"für {COMPANY} sind folgende Rechnungen trotz unserer Erinnerung weiterhin "
        "offen. Dies ist unsere letzte Mahnung:",
        2: f"für {COMPANY} sind folgende Rechnungen trotz unserer Erinnerungen "
        "weiterhin offen. Dies ist unsere letzte Mahnung:",
    },
    "es": {
        0: f"las siguientes facturas de {COMPANY} están vencidas y siguen pendientes. "
        "Este es nuestro último recordatorio:",
        1: f"las siguientes facturas de {COMPANY} siguen pendientes tras nuestro "
        "recordatorio. Este es nuestro último recordatorio:",
        2: f"las siguientes facturas de {COMPANY} siguen pendientes tras nuestros "
        "recordatorios. Este es nuestro último recordatorio:",
    },
    "fr": {
        0: f"les factures suivantes de {COMPANY} sont échues et restent impayées. Ceci "
        "est notre dernier rappel\u00a0:",
        1: f"les factures suivantes de {COMPANY} restent impayées malgré notre rappel. "
        "Ceci est notre dernier rappel\u00a0:",
        2: f"les factures suivantes de {COMPANY} restent impayées malgré nos rappels. "
        "Ceci est notre dernier rappel\u00a0:",
    },
    "pt": {
        0: f"as seguintes faturas de {COMPANY} estão vencidas e continuam em aberto. "
        "Este é o nosso último lembrete:",
        1: f"as seguintes faturas de {COMPANY} continuam em aberto após o nosso "
        "lembrete. Este é o nosso último lembrete:",
        2: f"as seguintes faturas de {COMPANY} continuam em aberto após os nossos "
        "lembretes. Este é o nosso último lembrete:",
    },
}

LEVEL2_SUBJECT = {
    "en": ("Payment reminder", "Second reminder"),
    "de": ("Zahlungserinnerung", "Zahlungserinnerung (2. Mahnung)"),
    "es": ("Recordatorio de pago", "Segundo recordatorio"),
    "fr": ("Rappel de paiement", "Deuxième rappel"),
    "pt": ("Lembrete de pagamento", "Segundo lembrete"),
}

CLAIMS = ("two", "zwei", "dos recordatorios", "deux rappels", "dois lembretes")


def render_reminder(tmp_path, language: str, days_overdue: int, earlier: int):
    """Plan and render one reminder after `earlier` sent reminders; return its parts."""
    client = customer("C001", 2, name=COMPANY, language=language)
    orders = [
        invoice("ORD-1", "C001", "500", AS_OF - dt.timedelta(days=days_overdue), 2)
    ]
    sent = send_ledger(tmp_path / f"{language}-{earlier}.sqlite")
    for number in range(earlier):
        record_sent_reminder(sent, "C001", AS_OF - dt.timedelta(days=30 + 10 * number))
    rules = make_rules()
    letters, findings = plan_reminders(
        rules, ledger_for([client], orders), {"C001": client}, AS_OF, sent
    )
    assert findings == []
    [letter] = letters
    assert letter.context["earlier_reminders"] == earlier
    message = LetterRenderer(templates_dir(), rules).render(letter)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return str(message["Subject"]), text, html


@pytest.mark.parametrize("language", sorted(LEVEL3_INTRO))
@pytest.mark.parametrize("earlier", [0, 1, 2])
def test_level3_intro_matches_ledger(tmp_path, language, earlier):
    subject, text, html = render_reminder(tmp_path, language, 60, earlier)
    expected = LEVEL3_INTRO[language][earlier]
    assert text.splitlines()[2] == expected
    assert f"<p>{expected}</p>" in html
    for claim in CLAIMS:
        assert claim not in text


@pytest.mark.parametrize("language", sorted(LEVEL2_SUBJECT))
def test_level2_subject_without_history(tmp_path, language):
    subject, _, _ = render_reminder(tmp_path, language, 30, 0)
    assert subject.startswith(LEVEL2_SUBJECT[language][0] + " – ")
    subject, _, _ = render_reminder(tmp_path, language, 30, 1)
    assert subject.startswith(LEVEL2_SUBJECT[language][1] + " – ")


def test_level2_intro_without_history(tmp_path):
    _, text, _ = render_reminder(tmp_path, "en", 30, 0)
    assert text.splitlines()[2] == (
        f"the following invoices of {COMPANY} are overdue and still unpaid:"
    )
    _, text, _ = render_reminder(tmp_path, "en", 30, 1)
    assert text.splitlines()[2] == (
        f"despite our earlier reminder, the following invoices of {COMPANY} are "
        "still unpaid:"
    )


@pytest.mark.parametrize("language", sorted(LEVEL3_INTRO))
def test_company_period_not_doubled(tmp_path, language):
    _, text, html = render_reminder(tmp_path, language, 60, 2)
    assert "S.L.." not in text
    assert "S.L.." not in html
    assert "S.L. " in text  # the name keeps its own period inside a sentence


@pytest.mark.parametrize("language", sorted(LEVEL3_INTRO))
def test_thank_you_period_not_doubled(tmp_path, language):
    client = customer("C001", 2, name=COMPANY, language=language)
    sent = send_ledger(tmp_path / "state.sqlite")
    record_sent_reminder(sent, "C001", AS_OF - dt.timedelta(days=20))
    rules = make_rules(send_thank_you=True)
    [letter] = plan_thank_you_notes(
        rules, ledger_for([client], []), {"C001": client}, AS_OF, sent
    )
    message = LetterRenderer(templates_dir(), rules).render(letter)
    text = message.get_body(("plain",)).get_content()
    assert "S.L.." not in text
    assert COMPANY[:-1] in text


@dataclass
class Decision:
    order_id: str
    status: str
    warning: bool
    reason: str
    customer_id: str
    salesperson: str


def test_salesperson_notice_outcomes(tmp_path):
    rules = make_rules()
    client = customer("C001", 2, name=COMPANY, salesperson="S01")
    decisions = [
        Decision("ORD-1", "BLOCKED", False, "Over the credit limit.", "C001", "S01"),
        Decision(
            "ORD-2", "APPROVED", True, "Exposure is 85 % of the limit.", "C001", "S01"
        ),
    ]
    letters, findings = plan_salesperson_notices(
        rules, decisions, {"C001": client}, AS_OF, send_ledger(tmp_path / "s.sqlite")
    )
    assert findings == []
    message = LetterRenderer(templates_dir(), rules).render(letters[0])
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.splitlines()[0] == "Hello,"
    assert f"- ORD-1 for {COMPANY} (C001): blocked\n  Over the credit limit." in text
    assert (
        f"- ORD-2 for {COMPANY} (C001): approved with a warning\n"
        "  Exposure is 85 % of the limit." in text
    )
    assert "S01" not in text
    assert "True" not in text
    assert "warning: " not in text
    assert html.startswith("<p>Hello,</p>")
    assert "approved with a warning<br>Exposure is 85 % of the limit." in html


def unknown_language_letter(tmp_path, language="xx", **fields):
    client = customer("C009", 9, name="Voyages Blanc SARL", language=language, **fields)
    orders = [invoice("ORD-9", "C009", "500", AS_OF - dt.timedelta(days=10), 2)]
    rules = make_rules()
    letters, _ = plan_reminders(
        rules,
        ledger_for([client], orders),
        {"C009": client},
        AS_OF,
        send_ledger(tmp_path / "s.sqlite"),
    )
    return LetterRenderer(templates_dir(), rules), letters


def test_unknown_language_warns_with_row(tmp_path):
    renderer, letters = unknown_language_letter(tmp_path, salutation="Monsieur")
    [finding] = renderer.check_languages(letters + letters)
    assert str(finding) == (
        "customers.xlsx › Customers › row 9: customer C009 has the language 'xx', "
        "for which templates/ has no reminder_level1 template, so the letter is "
        "written in English (en). The salutation 'Monsieur' from the sheet is used "
        "as written. Enter one of de, en, es, fr, pt as the customer's language, or "
        "add the letter templates in templates/xx/."
    )
    assert finding.severity == "warning"
    text = renderer.render(letters[0]).get_body(("plain",)).get_content()
    # The salutation comes from the sheet as written; the engine adds none.
    assert text.splitlines()[0] == "Monsieur Contact C009,"


def test_known_language_no_warning(tmp_path):
    renderer, letters = unknown_language_letter(tmp_path)
    letters = [
        dataclasses.replace(letters[0], customer=customer("C009", 9, language="pt-BR"))
    ]
    assert renderer.check_languages(letters) == []


def test_undefined_variable_full_sentence(tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(templates_dir(), templates)
    path = templates / "en" / "reminder_level1.txt.j2"
    path.write_text("{{ salesperson.name }}\n" + path.read_text(encoding="utf-8"))
    renderer, letters = unknown_language_letter(tmp_path, language="en")
    renderer = LetterRenderer(templates, make_rules())
    with pytest.raises(EngineError) as caught:
        renderer.render(letters[0])
    assert str(caught.value.findings[0]) == (
        "templates/en/reminder_level1.txt.j2 line 1: the template failed for customer "
        "C009 (customers.xlsx › Customers › row 9): 'salesperson.name' is undefined. "
        "Correct the variable name in the template."
    )
