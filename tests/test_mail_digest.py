"""Manager and salesperson digests: totals to the cent, inline chart, own customers."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from email import policy
from email.parser import BytesParser

import pytest
from conftest import copy_project
from mail_factories import (
    AS_OF,
    customer,
    invoice,
    ledger_for,
    make_rules,
    memory_send_ledger,
    payment,
    templates_dir,
)

from engine.findings import Finding
from engine.mail import (
    DigestData,
    LetterRenderer,
    build_manager_digest,
    build_salesperson_digests,
    deliver,
)
from engine.mail.digest import BUCKETS, aging_by_salesperson
from engine.mail.formatting import round_money
from engine.mail.transport import OutboxTransport
from engine.pipeline import run_pass
from engine.project import Project


@dataclass
class Decision:
    order_id: str
    status: str
    warning: str | None
    reason: str
    customer_id: str
    salesperson: str | None


CUSTOMERS = {
    "C001": customer("C001", 2, name="Nordlicht Reisen GmbH", salesperson="S01"),
    "C002": customer(
        "C002", 3, name="Sakura Tours K.K.", salesperson="S02", currency="JPY"
    ),
    "C003": customer("C003", 4, name="Smith & Sons <Travel>", salesperson="S01"),
    "C004": customer("C004", 5, name="Blue Lagoon Trips", salesperson=None),
}


def days_ago(days: int) -> dt.date:
    return AS_OF - dt.timedelta(days=days)


def digest_data() -> DigestData:
    orders = [
        invoice("O1", "C001", "4000.01", days_ago(29), 2),
        invoice("O2", "C001", "0.01", days_ago(-5), 3),
        invoice("O3", "C002", "250001", days_ago(70), 4, currency="JPY"),
        invoice("O4", "C002", "33333", days_ago(100), 5, currency="JPY"),
        invoice("O5", "C003", "1999.99", days_ago(10), 6),
        invoice("O6", "C004", "1000.005", days_ago(45), 7, currency="USD"),
    ]
    payments = [payment("P1", "C003", "499.98", days_ago(5), "INV-O5", 2)]
    ledger = ledger_for(CUSTOMERS.values(), orders, payments)
    decisions = [
        Decision(
            "ORD-1006",
            "BLOCKED",
            None,
            "credit limit 10,000.00 EUR exceeded by 2,000.00 EUR",
            "C001",
            "S01",
        ),
        Decision("ORD-1005", "APPROVED", "85 %", "", "C003", "S01"),
    ]
    return DigestData(
        as_of=AS_OF,
        base_currency="EUR",
        decisions=decisions,
        ledger=ledger,
        customers=CUSTOMERS,
        limits={
            "C001": Decimal(4500),
            "C002": Decimal(100000),
            "C003": None,
            "C004": Decimal(850),
        },
        letters_sent=[],
        failures=[
            Finding(
                "SMTP", "SMTP login rejected for x@example.test – check credentials."
            )
        ],
        uncertain=[],
        findings=[],
    )


def test_aging_rows_add_up_to_the_cent():
    data = digest_data()
    rows, totals = aging_by_salesperson(data.ledger, data.customers, "EUR")
    accounts = data.ledger.accounts.values()
    for bucket in BUCKETS:
        # The customers sheet shows each bucket in cents; the digest adds those.
        sheet_total = sum(
            (round_money(a.buckets[bucket], "EUR") for a in accounts), Decimal(0)
        )
        assert totals[bucket] == sheet_total
        assert sum((row[bucket] for row in rows), Decimal(0)) == sheet_total
    for row in rows:
        assert row["total"] == sum((row[bucket] for bucket in BUCKETS), Decimal(0))
    assert totals["total"] == sum((row["total"] for row in rows), Decimal(0))
    assert totals["total"] == Decimal("8100.04")
    assert [row["salesperson"] for row in rows] == ["(none)", "S01", "S02"]


def test_manager_digest_contents():
    rules = make_rules()
    letter, message = build_manager_digest(
        digest_data(), rules, LetterRenderer(templates_dir(), rules)
    )
    assert letter.to == ("manager@agency.test", "finance@agency.test")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert (
        "ORD-1006, Nordlicht Reisen GmbH (C001), salesperson S01: credit limit" in text
    )
    assert (
        "Blue Lagoon Trips (C004): exposure €900.00 of limit €850.00 (105.9 %), OVER LIMIT"
        in text
    )
    assert (
        "Nordlicht Reisen GmbH (C001): exposure €4,000.02 of limit €4,500.00 (88.9 %)"
        in text
    )
    assert "Sakura" not in text.split("Aging")[0]
    assert "SMTP login rejected for x@example.test" in text
    assert (
        "Smith &amp; Sons &lt;Travel&gt;" not in html
    )  # not a blocked or near-limit customer


def test_manager_digest_total_line():
    rules = make_rules()
    data = digest_data()
    _, message = build_manager_digest(
        data, rules, LetterRenderer(templates_dir(), rules)
    )
    text = message.get_body(("plain",)).get_content()
    lines = text.splitlines()
    assert next(line for line in lines if line.startswith("S02 ")).split() == [
        "S02",
        "€0.00",
        "€0.00",
        "€0.00",
        "€1,500.01",
        "€200.00",
        "€1,700.01",
    ]
    assert next(line for line in lines if line.startswith("All ")).split() == [
        "All",
        "€0.01",
        "€5,500.02",
        "€900.00",
        "€1,500.01",
        "€200.00",
        "€8,100.04",
    ]


def test_chart_is_inline_related_image():
    rules = make_rules()
    _, message = build_manager_digest(
        digest_data(), rules, LetterRenderer(templates_dir(), rules)
    )
    html_part = message.get_body(("html",))
    (related,) = [
        p for p in message.walk() if p.get_content_type() == "multipart/related"
    ]
    (image,) = [p for p in related.iter_parts() if p.get_content_type() == "image/png"]
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_part.get_content()
    assert image.get_content().startswith(b"\x89PNG")
    assert message.get_body(("plain",)) is not None


def test_salesperson_digest_own_customers_only():
    rules = make_rules()
    digests = build_salesperson_digests(
        digest_data(), rules, LetterRenderer(templates_dir(), rules)
    )
    by_code = {letter.recipient_id: message for letter, message in digests}
    assert sorted(by_code) == ["S01", "S02"]
    s01 = by_code["S01"].get_body(("plain",)).get_content()
    assert "Nordlicht Reisen GmbH (C001)" in s01
    assert "Smith & Sons <Travel> (C003)" in s01
    assert "Sakura" not in s01
    assert "Blue Lagoon" not in s01
    assert str(by_code["S01"]["To"]) == "s01@agency.test"


def test_unchanged_digest_not_sent_twice(tmp_path):
    rules = make_rules()
    renderer = LetterRenderer(templates_dir(), rules)
    sent = memory_send_ledger()
    first = deliver(
        [build_manager_digest(digest_data(), rules, renderer)],
        OutboxTransport(tmp_path),
        sent,
    )
    second = deliver(
        [build_manager_digest(digest_data(), rules, renderer)],
        OutboxTransport(tmp_path),
        sent,
    )
    assert len(first.sent) == 1
    assert len(second.already_sent) == 1
    (path,) = tmp_path.glob("*.eml")
    assert path.name.startswith("2024-06-30_digest_managers_")


@pytest.mark.parametrize(("schedule", "expected"), [("daily", 1), ("every-pass", 2)])
def test_digest_schedule(tmp_path, schedule, expected):
    import dataclasses

    rules = make_rules(digest_schedule=schedule)
    renderer = LetterRenderer(templates_dir(), rules)
    sent = memory_send_ledger()
    data = digest_data()
    deliver(
        [build_manager_digest(data, rules, renderer)], OutboxTransport(tmp_path), sent
    )
    changed = dataclasses.replace(data, decisions=[])
    deliver(
        [build_manager_digest(changed, rules, renderer)],
        OutboxTransport(tmp_path),
        sent,
    )
    assert len(list(tmp_path.glob("*.eml"))) == expected


def test_manager_digest_from_demo_pass(tmp_path):
    project = copy_project(tmp_path / "project")
    result = run_pass(Project.at(project), as_of=dt.date(2013, 6, 3))
    [path] = (project / "outbox").glob("2013-06-03_digest_managers_*.eml")
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    sent = result.delivery.sent
    assert "<built-in" not in text
    assert "&lt;built-in" not in html
    assert f"Letters sent ({len(sent)})" in text
    section = text[text.index("Letters sent") : text.index("Delivery uncertain")]
    lines = section.splitlines()[1:]
    for letter in sent:
        if letter.kind == "notice":
            ids = ", ".join(
                f"{decision['order_id']} ({decision['outcome']})"
                for decision in letter.context["decisions"]
            )
        else:
            ids = ", ".join(item.item_id for item in letter.items)
        line = next(line for line in lines if f" to {letter.recipient_id}:" in line)
        assert line.endswith(f": {ids}"), line
        assert ids in html
    assert re.search(r"reminder level [13] to \S+: \d{10}", section)
    # Notices name each order with its outcome, never the send-ledger key.
    assert ":APPROVED" not in section
    assert ":BLOCKED" not in section
    assert "ORD-7992662919 (approved with a warning)" in section


def held_digest_data() -> DigestData:
    data = digest_data()
    data.decisions.append(
        Decision(
            "ORD-1007",
            "HELD",
            None,
            "Held: amount -500.00 is not a positive order amount.",
            "C003",
            "S01",
        )
    )
    data.held_customers = {"C002": "currency JPY has no rate in rules/credit.yaml"}
    return data


def manager_digest_parts(data: DigestData) -> tuple[str, str, str]:
    rules = make_rules()
    _, message = build_manager_digest(
        data, rules, LetterRenderer(templates_dir(), rules)
    )
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return str(message["Subject"]), text, html


def test_manager_digest_lists_held_orders():
    subject, text, html = manager_digest_parts(held_digest_data())
    assert "1 blocked, 1 held," in subject
    assert (
        "Held orders, not decided (1)\n- ORD-1007, Smith & Sons <Travel> (C003), "
        "salesperson S01: Held: amount -500.00 is not a positive order amount." in text
    )
    assert "<h3>Held orders, not decided (1)</h3>" in html
    assert "<strong>ORD-1007</strong>, Smith &amp; Sons &lt;Travel&gt; (C003)" in html


def test_manager_digest_lists_customers_not_evaluated():
    _, text, html = manager_digest_parts(held_digest_data())
    assert (
        "Customers not evaluated (1)\n- Sakura Tours K.K. (C002), salesperson "
        "S02: currency JPY has no rate in rules/credit.yaml" in text
    )
    assert "<h3>Customers not evaluated (1)</h3>" in html
    assert "Sakura Tours K.K. (C002), salesperson S02: currency JPY" in html


def test_manager_digest_totals_leave_out_held():
    _, text, html = manager_digest_parts(held_digest_data())
    lines = text.splitlines()
    assert not [line for line in lines if line.startswith("S02 ")]
    all_index = next(i for i, line in enumerate(lines) if line.startswith("All "))
    # 8,100.04 in total, less S02's only customer C002 (1,700.01).
    assert lines[all_index].split()[-1] == "€6,400.03"
    assert lines[all_index + 1] == (
        "The totals leave out 1 customer whose rows could not be read or evaluated "
        "(listed under Customers not evaluated)."
    )
    assert "<strong>The totals leave out 1 customer whose rows" in html


def test_manager_digest_without_held_customers():
    _, text, html = manager_digest_parts(digest_data())
    assert "Held orders, not decided (0)\n- none" in text
    assert "Customers not evaluated" not in text
    assert "leave out" not in text
    assert "Customers not evaluated" not in html


def test_digest_totals_count_customers_in_plural():
    data = held_digest_data()
    data.held_customers["C004"] = "row 5: 'lots' is not a number"
    _, text, _ = manager_digest_parts(data)
    assert "The totals leave out 2 customers whose rows" in text
    assert "Customers not evaluated (2)" in text
    # C004 was over its limit, but its figures are not trusted while held.
    assert "Blue Lagoon Trips (C004): exposure" not in text
