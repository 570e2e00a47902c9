"""French letters put a no-break space before : ; ! and ?."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from mail_factories import (
    AS_OF,
    customer,
    invoice,
    ledger_for,
    make_rules,
    memory_send_ledger,
    templates_dir,
)

from engine.mail import LetterRenderer, plan_reminders
from engine.mail.context import build_context
from engine.mail.letter import THANK_YOU, Letter

CLIENT = customer(
    "C010", 2, name="Voyages Étoile SARL", contact="Hélène Lefèvre", language="fr"
)
# A high punctuation mark without U+00A0 or U+202F before it, in running text.
BARE = re.compile(r"(?<![\u00a0\u202f])[:;!?](?=\s|$)")
TAGS = re.compile(r"<[^>]+>")


def french_letters() -> list[Letter]:
    letters = []
    for days in (10, 30, 60):
        order = invoice("O1", "C010", "1234.5", AS_OF - dt.timedelta(days=days), 2)
        (letter,), _ = plan_reminders(
            make_rules(),
            ledger_for([CLIENT], [order]),
            {"C010": CLIENT},
            AS_OF,
            memory_send_ledger(),
        )
        letters.append(letter)
    thanks = Letter(
        kind=THANK_YOU,
        template="thank_you",
        as_of=AS_OF,
        recipient_id="C010",
        to=(CLIENT.email,),
        language="fr",
        customer=CLIENT,
    )
    return letters + [thanks]


@pytest.mark.parametrize("letter", french_letters(), ids=lambda l: l.template)
def test_no_break_space_before_punctuation(letter):
    rules = make_rules()
    renderer = LetterRenderer(templates_dir(), rules)
    subject, text, html_part = renderer.render_parts(
        letter.template, "fr", build_context(letter, rules), letter.where
    )
    visible_html = html.unescape(TAGS.sub(" ", html_part))
    for part in (subject, text, visible_html):
        assert BARE.findall(part) == [], part
    assert "\u00a0:" in text
    assert "\u00a0:" in visible_html
