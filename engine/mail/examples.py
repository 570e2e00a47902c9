"""Regenerate the rendered example letters in docs/examples/.

    python -m engine.mail.examples [PROJECT_ROOT]

The letters use the project's rules (rules/*.yaml) and templates, with customers and
invoices built in code: one customer per language, with invoices overdue far enough
for each dunning level. Each letter is written as <language>/<template>.txt (subject
line, blank line, text part) and .html; the manager digest as digest_manager.txt.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from decimal import Decimal
from pathlib import Path

from engine.ledger import build_ledger
from engine.mail.context import build_context
from engine.mail.digest import DigestData, build_manager_digest
from engine.mail.letter import REMINDER, THANK_YOU, Letter
from engine.mail.plan import letter_item
from engine.mail.render import LetterRenderer
from engine.model import Customer, Inputs, Order, RowRef
from engine.rules.check import load_rules
from engine.rules.model import RuleSet

log = logging.getLogger(__name__)

AS_OF = dt.date(2013, 6, 3)
# Language -> (company, contact, salutation, currency)
SAMPLE_CUSTOMERS = {
    "en": ("Harbour Light Travel Ltd", "Ana O'Neil", "Dear Ms", "USD"),
    "de": ("Nordlicht Reisen GmbH", "Zoë Ångström-Müller", "Sehr geehrte Frau", "EUR"),
    "fr": ("Voyages Étoile SARL", "Hélène Lefèvre", "Madame", "EUR"),
    "es": ("Viajes Peñón S.L.", "José Núñez", "Estimado Sr.", "EUR"),
    "pt": ("Viagens Açoriano Lda", "João Conceição", "Caro Sr.", "USD"),
}


def sample_customer(language: str, row: int) -> Customer:
    company, contact, salutation, currency = SAMPLE_CUSTOMERS[language]
    return Customer(
        customer_id=f"X-{language.upper()}",
        name=company,
        ref=RowRef("customers.xlsx", "Customers", row),
        salesperson="AKE",
        email=f"{language}@example.test",
        contact=contact,
        salutation=salutation,
        language=language,
        currency=currency,
    )


def sample_orders(customer: Customer, days_overdue: list[int]) -> list[Order]:
    orders = []
    for number, days in enumerate(days_overdue, start=1):
        due = AS_OF - dt.timedelta(days=days)
        orders.append(
            Order(
                order_id=f"{customer.customer_id}-{number}",
                customer_id=customer.customer_id,
                order_date=due - dt.timedelta(days=45),
                amount=Decimal("1234.5") * number,
                currency=customer.currency or "USD",
                ref=RowRef("orders.xlsx", "Orders", number + 1),
                invoice_id=f"INV-2013-{customer.language.upper()}{number:02d}",
                invoice_date=due - dt.timedelta(days=30),
                due_date=due,
            )
        )
    return orders


def _to_base(rules: RuleSet):
    def convert(amount: Decimal, currency: str, ref: RowRef) -> Decimal:
        return amount * rules.fx_rates.get(currency, Decimal(1))

    return convert


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _write_letter(renderer: LetterRenderer, letter: Letter, folder: Path) -> None:
    subject, text, html = renderer.render_parts(
        letter.template,
        letter.language,
        build_context(letter, renderer.rules),
        letter.where,
    )
    _write(folder / f"{letter.template}.txt", f"Subject: {subject}\n\n{text}")
    _write(folder / f"{letter.template}.html", html)


def write_examples(root: Path, output: Path | None = None) -> list[Path]:
    """Render every level in every language, plus the manager digest; return the files."""
    rules = load_rules(root)
    renderer = LetterRenderer(root / "templates", rules)
    output = output or root / "docs" / "examples"
    customers, orders = {}, []
    for row, language in enumerate(SAMPLE_CUSTOMERS, start=2):
        customer = sample_customer(language, row)
        customers[customer.customer_id] = customer
        # One invoice per level: 12, 40 and 75 days overdue in the shipped rules.
        days = [level.min_days + 11 for level in rules.dunning_levels]
        orders += sample_orders(customer, days)
    ledger = build_ledger(
        Inputs(list(customers.values()), orders, []), AS_OF, _to_base(rules)
    )

    for customer_id, customer in customers.items():
        items = sorted(
            ledger.accounts[customer_id].open_items, key=lambda i: i.days_overdue
        )
        folder = output / (customer.language or rules.fallback_language)
        for level, item in zip(rules.dunning_levels, items):
            letter = Letter(
                kind=REMINDER,
                template=level.template,
                as_of=AS_OF,
                recipient_id=customer_id,
                to=(customer.email or "",),
                language=customer.language or "en",
                level=level.level,
                customer=customer,
                items=tuple(
                    letter_item(i, i_level.level, rules)
                    for i, i_level in zip(items[: level.level], rules.dunning_levels)
                ),
            )
            _write_letter(renderer, letter, folder)
        thanks = Letter(
            kind=THANK_YOU,
            template="thank_you",
            as_of=AS_OF,
            recipient_id=customer_id,
            to=(customer.email or "",),
            language=customer.language or "en",
            customer=customer,
        )
        _write_letter(renderer, thanks, folder)

    data = DigestData(
        as_of=AS_OF,
        base_currency=rules.base_currency,
        decisions=[],
        ledger=ledger,
        customers=customers,
        limits={cid: Decimal(10000) for cid in customers},
    )
    digest = build_manager_digest(data, rules, renderer)
    if digest is not None:
        _write(
            output / "digest_manager.txt", digest[1].get_body(("plain",)).get_content()
        )
    return sorted(output.rglob("*.*"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path.cwd()
    for path in write_examples(root):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
