"""Sample template variables, so `check` can render every template before a pass.

Each template kind gets the variables the engine passes it in a real pass, built
by the same functions (`build_context`, `manager_context`, `salesperson_context`)
from a made-up customer with every field filled. A variable that is not in these
contexts is also missing in a real letter, so rendering with them finds a
misspelled variable before any letter goes out.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import jinja2

from engine.findings import Finding
from engine.mail.context import build_context
from engine.mail.letter import NOTICE, REMINDER, THANK_YOU, Letter, LetterItem
from engine.model import Customer, Inputs, Order, RowRef
from engine.rules.model import RuleSet

AS_OF = dt.date(2024, 6, 3)
CUSTOMER_ID = "C001"
SALESPERSON = "S01"
_NO_ATTRIBUTE = re.compile(r"^'[\w ]+ object' has no attribute '(\w+)'$")
ORDER_ID = "ORD-1001"


def sample_customer(language: str, rules: RuleSet) -> Customer:
    return Customer(
        customer_id=CUSTOMER_ID,
        name="Nordlicht Reisen GmbH",
        ref=RowRef("customers.xlsx", "Customers", 2),
        rating="B",
        credit_limit=Decimal(5000),
        salesperson=SALESPERSON,
        email="buchhaltung@nordlicht.example",
        contact="Anna Berg",
        salutation="Dear",
        language=language,
        currency=rules.base_currency,
        country="DE",
    )


def _sample_items(rules: RuleSet, level: int) -> tuple[LetterItem, ...]:
    currency = rules.base_currency
    return (
        LetterItem(
            item_id="INV-1001",
            order_id=ORDER_ID,
            due_date=AS_OF - dt.timedelta(days=40),
            amount=Decimal("1250.00"),
            open_amount=Decimal("750.00"),
            currency=currency,
            days_overdue=40,
            level=level,
        ),
        LetterItem(
            item_id="INV-1002",
            order_id="ORD-1002",
            due_date=AS_OF - dt.timedelta(days=12),
            amount=Decimal("310.50"),
            open_amount=Decimal("310.50"),
            currency=currency,
            days_overdue=12,
            level=1,
        ),
    )


def _letter_context(template: str, language: str, rules: RuleSet) -> dict[str, Any]:
    """Return the variables of a reminder or thank-you letter to the sample customer."""
    customer = sample_customer(language, rules)
    if template == "thank_you":
        letter = Letter(
            kind=THANK_YOU,
            template=template,
            as_of=AS_OF,
            recipient_id=CUSTOMER_ID,
            to=(customer.email or "",),
            language=language,
            customer=customer,
        )
        return build_context(letter, rules)
    by_template = {level.template: level for level in rules.dunning_levels}
    level = by_template.get(template)
    number = level.level if level else 1
    letter = Letter(
        kind=REMINDER,
        template=template,
        as_of=AS_OF,
        recipient_id=CUSTOMER_ID,
        to=(customer.email or "",),
        language=language,
        level=number,
        customer=customer,
        items=_sample_items(rules, number),
        context={
            "level_name": level.name if level else "Reminder",
            "earlier_reminders": number - 1,
        },
    )
    return build_context(letter, rules)


def _sample_decisions() -> list[SimpleNamespace]:
    def decision(order_id: str, status: str, warning: str | None, reason: str):
        return SimpleNamespace(
            order_id=order_id,
            status=status,
            warning=warning,
            reason=reason,
            customer_id=CUSTOMER_ID,
            salesperson=SALESPERSON,
        )

    return [
        decision("ORD-1003", "BLOCKED", None, "exposure would exceed the limit"),
        decision("ORD-1004", "APPROVED", "85 %", "near the limit"),
        decision("ORD-1005", "HELD", None, "'fifty' is not a number"),
    ]


def _notice_context(language: str, rules: RuleSet) -> dict[str, Any]:
    from engine.mail.plan import _decision_context

    customers = {CUSTOMER_ID: sample_customer(language, rules)}
    decisions = [_decision_context(d, customers) for d in _sample_decisions()[:2]]
    letter = Letter(
        kind=NOTICE,
        template="salesperson_notice",
        as_of=AS_OF,
        recipient_id=SALESPERSON,
        to=("s01@agency.example",),
        language=language,
        context={"decisions": decisions, "salesperson_code": SALESPERSON},
    )
    return build_context(letter, rules)


def _sample_digest_data(language: str, rules: RuleSet) -> Any:
    from engine.ledger import build_ledger
    from engine.mail.digest import DigestData
    from engine.mail.ledger import LedgerEntry

    customer = sample_customer(language, rules)
    order = Order(
        order_id=ORDER_ID,
        customer_id=CUSTOMER_ID,
        order_date=AS_OF - dt.timedelta(days=80),
        amount=Decimal("1250.00"),
        currency=rules.base_currency,
        ref=RowRef("orders.xlsx", "Orders", 2),
        salesperson=SALESPERSON,
        invoice_id="INV-1001",
        invoice_date=AS_OF - dt.timedelta(days=70),
        due_date=AS_OF - dt.timedelta(days=40),
    )
    inputs = Inputs(customers=[customer], orders=[order])
    ledger = build_ledger(inputs, AS_OF, lambda amount, currency, ref: amount)
    finding = Finding("orders.xlsx › Orders › E7", "'fifty' is not a number.")
    return DigestData(
        as_of=AS_OF,
        base_currency=rules.base_currency,
        decisions=_sample_decisions(),
        ledger=ledger,
        customers={CUSTOMER_ID: customer},
        limits={CUSTOMER_ID: customer.credit_limit},
        letters_sent=[],
        failures=[finding],
        uncertain=[
            LedgerEntry(
                key="0" * 64,
                kind=REMINDER,
                recipient_id=CUSTOMER_ID,
                level=1,
                as_of=AS_OF,
                message_id="<ag-sample@agency.example>",
                status="uncertain",
                attempts=1,
                detail="the connection closed after DATA",
            )
        ],
        findings=[finding],
        held_customers={"C002": "the currency GBP has no rate in rules/credit.yaml"},
    )


def sample_context(template: str, language: str, rules: RuleSet) -> dict[str, Any]:
    """Return the variables a template with this base name gets in a real pass."""
    if template == "digest_manager":
        from engine.mail.digest import manager_context

        return manager_context(_sample_digest_data(language, rules), rules)
    if template == "digest_salesperson":
        from engine.mail.digest import salesperson_context

        data = _sample_digest_data(language, rules)
        return salesperson_context(data, rules, SALESPERSON, [CUSTOMER_ID])
    if template == "salesperson_notice":
        return _notice_context(language, rules)
    return _letter_context(template, language, rules)


def _split_name(name: str) -> tuple[str, str, str] | None:
    """Split `de/reminder_level1.txt.j2` into language, base name and part."""
    folder, _, file = name.rpartition("/")
    base, _, part = file.removesuffix(".j2").rpartition(".")
    if (
        not folder
        or "/" in folder
        or not base
        or part not in ("subject", "txt", "html")
    ):
        return None
    return folder, base, part


def render_with_samples(renderer: Any, names: list[str]) -> list[Finding]:
    """Render each template with the sample variables of its kind; return the failures.

    `names` are template paths relative to templates/ that compile. Files that are
    not `<language>/<name>.<part>.j2` (included partials, say) are skipped, because
    they are checked through the templates that include them.
    """
    from engine.mail.render import _template_line

    findings: list[Finding] = []
    contexts: dict[tuple[str, str], dict[str, Any]] = {}
    for name in names:
        parts = _split_name(name)
        if parts is None:
            continue
        language, base, _ = parts
        key = (language, base)
        if key not in contexts:
            contexts[key] = sample_context(base, language, renderer.rules)
        try:
            renderer.environment.get_template(name).render(contexts[key])
        except (jinja2.TemplateError, ValueError, TypeError, LookupError) as error:
            file, lineno = _template_line(error, renderer.templates_dir)
            line = _source_line(renderer, name, lineno)
            findings.append(_sample_failure(error, file, lineno, line))
    return findings


def _source_line(renderer: Any, name: str, lineno: int | None) -> str:
    if not lineno:
        return ""
    source, _, _ = renderer.environment.loader.get_source(renderer.environment, name)
    lines = source.splitlines()
    return lines[lineno - 1] if lineno <= len(lines) else ""


def _undefined_detail(error: Exception, line: str) -> str:
    """Return the error text, naming the variable as written on the template line.

    Jinja names a missing key of a plain dict only as "'dict object' has no
    attribute 'reson'". The template line shows that it was `order.reson`.
    """
    detail = str(error).rstrip(".")
    missing = _NO_ATTRIBUTE.match(detail)
    if missing is None:
        return detail
    attribute = missing.group(1)
    written = re.search(rf"([A-Za-z_][\w.]*)\.{re.escape(attribute)}\b", line)
    if written is None:
        return detail
    return f"'{written.group(0)}' is undefined"


def _sample_failure(
    error: Exception, file: str, lineno: int | None, line: str
) -> Finding:
    where = f"{file}:{lineno}" if lineno else file
    detail = str(error).rstrip(".")
    if isinstance(error, jinja2.UndefinedError):
        detail = _undefined_detail(error, line)
        return Finding(
            where=where,
            message=f"the template uses a variable that letters do not have: "
            f"{detail}, so every letter that uses this template would fail.",
            fix="Use one of the variables listed in templates/README.md.",
            code="mail-template-variable",
        )
    return Finding(
        where=where,
        message=f"the template failed with sample values: {detail}.",
        fix="Correct the template; templates/README.md lists the variables and "
        "filters.",
        code="mail-template-variable",
    )
