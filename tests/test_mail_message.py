"""Letters built by `engine.mail.message` are the bytes `EmailMessage` gives.

The reference below is how `LetterRenderer.compose` built letters with
`policy.default`, `set_content` and `add_alternative`. Both are serialized with
the same random boundary (the generator draws it from `random`) and clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import sys
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from mail_factories import customer, make_rules

from engine.mail.context import item_ids_of
from engine.mail.headers import check_header_text, make_address, parse_sender
from engine.mail.letter import REMINDER, Letter, LetterItem
from engine.mail.message import as_bytes, raw_text, serialize, verbatim
from engine.mail.render import LetterRenderer, _attach_file

NOW = dt.datetime(2024, 6, 30, 9, 15, 7, tzinfo=dt.UTC)
ALPHABET = (
    "abcXYZ019 .,;:'\"()<>[]@\\!#$%&*+-/=?^_`{|}~" + "äöüßéçñøÅ€–“”中文Ωлジ" + " " * 6
)


def reference_compose(renderer, letter, subject, text, html) -> EmailMessage:
    where = letter.where
    message = EmailMessage(policy=policy.default)
    message["From"] = parse_sender(renderer.rules.contacts.sender, "rules")
    display = None
    if letter.customer is not None:
        display = letter.customer.contact or letter.customer.name
    message["To"] = [make_address(display, address, where) for address in letter.to]
    if letter.cc:
        message["Cc"] = [make_address(None, address, where) for address in letter.cc]
    message["Subject"] = check_header_text(subject, "subject", where)
    message["Date"] = format_datetime(renderer.now())
    message["Message-ID"] = letter.message_id(renderer.rules.contacts.sender)
    message["X-Arrears-Guard-Key"] = letter.key
    message["X-Arrears-Guard-Items"] = item_ids_of(letter) or "-"
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(
        html, subtype="html", charset="utf-8", cte="quoted-printable"
    )
    return message


def reference_bytes(message: EmailMessage) -> bytes:
    try:
        return message.as_bytes(policy=policy.SMTP)
    except (UnicodeEncodeError, ValueError):
        return message.as_bytes(policy=policy.SMTPUTF8)


def make_renderer(sender: str) -> LetterRenderer:
    rules = make_rules()
    contacts = dataclasses.replace(rules.contacts, sender=sender)
    renderer = LetterRenderer(
        Path("templates"), dataclasses.replace(rules, contacts=contacts)
    )
    renderer.now = lambda: NOW
    return renderer


def make_letter(contact: str, to=("c1@example.test",), cc=(), items=("INV-1",)):
    person = customer("C1", 2, contact=contact or None, name="Firma")
    item_rows = tuple(LetterItem(item, item, None, 1, 1, "EUR", 3, 1) for item in items)
    return Letter(
        REMINDER,
        "reminder_level1",
        dt.date(2024, 6, 30),
        "C1",
        tuple(to),
        "en",
        1,
        person,
        item_rows,
        tuple(cc),
    )


def both(renderer, letter, subject, text, html, attach: Path | None = None):
    """Return (new bytes, reference bytes) for one letter."""
    results = []
    for compose in (renderer.compose, lambda *a: reference_compose(renderer, *a)):
        message = compose(letter, subject, text, html)
        if attach is not None:
            _attach_file(message, attach)
        random.seed(20240630)
        serialized = serialize(message) if compose is renderer.compose else None
        if serialized is None:
            serialized = reference_bytes(message)
        results.append(serialized)
    return results[0], results[1]


CASES = [
    ("Anna Berg", "Payment reminder INV-1", "Dear Anna,\n", "<p>Dear Anna,</p>\n"),
    ("Müller, Jörg", "Zahlungserinnerung – INV-1", "Grüße\n", "<p>Grüße</p>"),
    ('J. R. "Bob" O\'Neil (Sales)', "Re: =?utf-8?q?x?=", "a\r\nb\rc", ""),
    ("", "x" * 120, "line " * 60, "<b>" + "é" * 200 + "</b>"),
    ("Ünïcödé " * 12, "Rappel – Facture INV-0086653 – Gonçalves Turismo Lda", "", ""),
    ("a\\b", "  padded  subject  ", "trailing space \nend", "tab\there"),
]


@pytest.mark.parametrize(("contact", "subject", "text", "html"), CASES)
def test_letter_bytes_match_reference(contact, subject, text, html):
    renderer = make_renderer("Buchhaltung Nordlicht Reisebüro <buch@example.test>")
    new, reference = both(renderer, make_letter(contact), subject, text, html)
    assert new == reference


def test_ascii_sender_cc_and_items_match_reference():
    renderer = make_renderer("credit-control@agency.test")
    letter = make_letter(
        "Anna Berg",
        to=("a@example.test", "b.c@example.test"),
        cc=("finance@agency.test", "s01@agency.test"),
        items=tuple(f"INV-{n:05d}" for n in range(12)),
    )
    new, reference = both(renderer, letter, "Reminder", "Text\n", "<p>HTML</p>\n")
    assert new == reference


def test_non_ascii_local_part_matches_reference():
    renderer = make_renderer("credit-control@agency.test")
    letter = make_letter("Jörg", to=("jörg@example.test",))
    new, reference = both(renderer, letter, "Reminder", "Text\n", "<p>x</p>\n")
    assert new == reference


def test_attachment_after_compose_matches_reference(tmp_path):
    path = tmp_path / "Rechnung_INV-1_Müller.pdf"
    path.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4)
    renderer = make_renderer("credit-control@agency.test")
    letter = make_letter("Anna Berg")
    new, reference = both(renderer, letter, "Reminder", "T\n", "<p>H</p>", path)
    assert new == reference


def test_random_names_and_subjects_match_reference():
    """Random names and subjects, ASCII and not, short and long, with specials."""
    rng = random.Random(7)
    renderer = make_renderer("Zoë Accounts <accounts@example.test>")
    for _ in range(150):
        contact = "".join(rng.choices(ALPHABET, k=rng.randint(1, 90))).strip()
        contact = " ".join(contact.split())
        subject = " ".join(rng.choices(ALPHABET, k=rng.randint(1, 100))).strip()
        subject = " ".join(subject.split())
        new, reference = both(renderer, make_letter(contact), subject, "t\n", "h\n")
        assert new == reference, (contact, subject)


def test_composed_letter_reads_back():
    renderer = make_renderer("credit-control@agency.test")
    letter = make_letter("Anna Berg", cc=("finance@agency.test",))
    message = renderer.compose(letter, "Reminder INV-1", "Text é\n", "<p>é</p>\n")
    assert message["To"].addresses[0].display_name == "Anna Berg"
    assert message["Cc"].addresses[0].addr_spec == "finance@agency.test"
    assert str(message["Subject"]) == "Reminder INV-1"
    assert message["Message-ID"] == letter.message_id("credit-control@agency.test")
    assert message.get_body(("plain",)).get_content() == "Text é\n"
    assert message.get_body(("html",)).get_content() == "<p>é</p>\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("INV-1,INV-2", True),
        ("Zahlungserinnerung – INV-1", False),
        ("=?utf-8?q?x?=", False),
        (" padded", False),
        ("two  spaces", False),
        ("line\r\nbreak", False),
    ],
)
def test_verbatim_header_values(value, expected):
    assert verbatim(value) is expected


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Message-ID", "<ag-1@example.test>", "<ag-1@example.test>"),
        ("Message-ID", "<ag-1@example.test>>", None),
        (
            "To",
            [Address("Anna Berg", "anna", "example.test")],
            "Anna Berg <anna@example.test>",
        ),
        ("To", [Address("Berg, Anna", "anna", "example.test")], None),
        ("To", [Address("", "a..b", "example.test")], None),
        ("Date", "Sun, 30 Jun 2024 09:15:07 +0000", None),
        ("X-Arrears-Guard-Items", "INV-1,INV-2", "INV-1,INV-2"),
    ],
)
def test_raw_header_text(name, value, expected):
    assert raw_text(name, value) == expected


@pytest.mark.parametrize("line_policy", [policy.default, policy.SMTP])
def test_boundary_found_in_body_is_changed(line_policy):
    """A part with the boundary line gets the generator's ".0" suffix.

    The generator's check looks for the line with "\n" ends only, so with the
    SMTP policy's "\r\n" the boundary stays as drawn, in both generators.
    """
    random.seed(3)
    boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="
    results = []
    for write in (as_bytes, lambda m, p: m.as_bytes(policy=p)):
        message = EmailMessage(policy=policy.default)
        message.set_content(f"--{boundary}\n", cte="7bit")
        message.add_alternative("<p>h</p>\n", subtype="html", cte="7bit")
        random.seed(3)
        results.append(write(message, line_policy))
    suffixed = f'boundary="{boundary}.0"'.encode() in results[0]
    assert suffixed is (line_policy is policy.default)
    assert results[0] == results[1]


def test_message_id_domain_from_named_sender():
    letter = make_letter("Anna")
    named = letter.message_id("Buchhaltung Reisebüro <buch@example.test>")
    assert named == letter.message_id("buch@example.test")
    assert named.endswith("@example.test>")
    # The id with ">>" that a named sender used to give was written the same way.
    before = named + ">"
    folded = policy.SMTP.header_factory("Message-ID", before).fold(policy=policy.SMTP)
    assert folded == f"Message-ID: {named}\r\n"
