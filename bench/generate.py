"""Deterministic benchmark workbooks in the layout of rules/workbooks.yaml.

For `rows` orders the generator writes `rows` payments and `rows * customer_ratio`
customers (ten orders per customer by default). Orders are appended in date order
like a sales ledger: about 88 % are invoiced and paid (some in two instalments), 6 %
are invoiced and not yet due, 6 % are new orders without an invoice (the ones a pass
decides). About 2 % of customers never paid, so their invoices are overdue and they
get reminders; every customer has an email address, so each of them is one letter.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ruamel.yaml import YAML

from bench.sheetwriter import AMOUNT, DATE, TEXT, write_workbook

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2013, 6, 3)
OVERDUE_SHARE = 0.02
LAYOUT_VERSION = 2  # bump when the generated data changes, so old files are rebuilt
SALESPEOPLE = 40  # codes S00..S39, customers spread evenly
FIRST_NAMES = ["José", "Zoë", "Łukasz", "Søren", "Ängela", "François", "Chloé", "Jürgen",
               "Núria", "Ömer", "Mária", "Dmitrij", "Aiko", "Björn", "Inês", "Ярослав"]
LAST_NAMES = ["Núñez", "Müller", "Wiśniewski", "Ørsted", "Åkesson", "Dubois", "García",
              "Schröder", "Peña", "Yılmaz", "Kovács", "Nováková", "Tanaka", "Þórsson",
              "Gonçalves", "Шевченко"]
COMPANY = ["Reisen GmbH", "Voyages SARL", "Viajes S.L.", "Travel Ltd", "Turismo Lda",
           "Rejser ApS", "& Söhne", "Tours"]
COUNTRIES = ["DE", "FR", "ES", "GB", "PT", "DK", "AT", "US", "IT", "PL"]
LANGUAGES = ["en", "de", "es", "fr", "pt"]
METHODS = ["Überweisung", "Card", "SEPA", "Wire", "Cheque"]
APPROVER_ROWS = 500  # one order in this many carries a manager's override


@dataclass(frozen=True)
class BenchFiles:
    folder: Path  # holds orders.xlsx, payments.xlsx, customers.xlsx
    rows: int
    customers: int


def source_headers(map_path: Path = ROOT / "rules" / "workbooks.yaml") -> dict:
    """Return each source's headers by field, mapped columns first, then owned ones."""
    data = YAML(typ="safe").load(map_path.read_text(encoding="utf-8"))
    return {
        kind: {**source["columns"], **source.get("owned", {})}
        for kind, source in data["sources"].items()
    }


def generate(out: Path, rows: int, *, seed: int = 20130603,
             customer_ratio: float = 0.1) -> BenchFiles:
    """Write the three workbooks into `out/<rows>/`; reuse them if already there."""
    folder = out / f"rows-{rows}-seed-{seed}-c{customer_ratio}-v{LAYOUT_VERSION}"
    marker = folder / "complete.json"
    customers = max(10, int(rows * customer_ratio))
    if marker.exists():
        return BenchFiles(folder, rows, customers)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    headers = source_headers()
    rng = random.Random(seed)
    people = [_customer(rng, n) for n in range(customers)]
    orders, payments = _orders_and_payments(rng, people, rows)
    _write(folder / "customers.xlsx", "Customers", headers["customers"],
           [_customer_row(person) for person in people])
    _write(folder / "orders.xlsx", "Orders", headers["orders"], orders)
    _write(folder / "payments.xlsx", "Payments", headers["payments"], payments)
    marker.write_text(json.dumps({"rows": rows, "customers": customers, "seed": seed}))
    return BenchFiles(folder, rows, customers)


def _write(path: Path, sheet: str, headers: dict, rows: list[dict]) -> None:
    fields = list(headers)
    styles = [_style(field) for field in fields]
    write_workbook(path, sheet, list(headers.values()), styles,
                   ([row.get(field) for field in fields] for row in rows), len(rows))


def _style(field: str) -> int:
    if field.endswith(("_date", "_expires")) or field == "checked_on":
        return DATE
    if "amount" in field or field in ("credit_limit",):
        return AMOUNT
    return TEXT


def _customer(rng: random.Random, n: int) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    currency = "EUR" if rng.random() < 0.1 else "USD"
    return {
        "customer_id": f"C{n + 1:06d}",
        "name": f"{last} {rng.choice(COMPANY)}",
        "country": rng.choice(COUNTRIES),
        "rating": rng.choice("AABBBCCD"),
        "credit_limit": Decimal(rng.choice((500, 750, 1000))) if rng.random() < 0.05
        else None,
        "salesperson": f"S{n % SALESPEOPLE:02d}",
        "contact": f"{first} {last}",
        "salutation": rng.choice(("Dear", "Hello")) + f" {first}",
        "email": f"c{n + 1}@customers.test",
        "language": rng.choice(LANGUAGES),
        "currency": currency,
        "overdue": rng.random() < OVERDUE_SHARE,
    }


def _customer_row(person: dict) -> dict:
    return {key: value for key, value in person.items() if key != "overdue"}


def _orders_and_payments(rng: random.Random, people: list[dict], rows: int):
    """Return `rows` orders in date order and `rows` payments in date order."""
    drafts = []
    for _ in range(rows):
        person = rng.choice(people)
        kind = rng.random()
        if kind < 0.06:
            drafts.append((AS_OF - dt.timedelta(days=rng.randint(0, 6)), "new", person))
        elif kind < 0.12:
            drafts.append((AS_OF - dt.timedelta(days=rng.randint(1, 25)), "open", person))
        else:
            drafts.append((AS_OF - dt.timedelta(days=rng.randint(40, 400)), "paid",
                           person))
    drafts.sort(key=lambda draft: draft[0])
    orders, paid = [], []
    for number, (day, kind, person) in enumerate(drafts, start=1):
        order = _order(rng, number, day, kind, person)
        orders.append(order)
        if kind == "paid" and not person["overdue"]:
            paid.append(order)
    payments = _payments(rng, paid, people, rows)
    return orders, payments


def _order(rng: random.Random, number: int, day: dt.date, kind: str, person: dict):
    amount = Decimal(rng.randint(500, 8000)) / 100
    order = {
        "order_id": f"SO-{number:07d}",
        "order_date": day,
        "customer_id": person["customer_id"],
        "salesperson": person["salesperson"],
        "amount": amount,
        "currency": person["currency"],
    }
    if kind != "new":
        invoice_date = day + dt.timedelta(days=rng.randint(0, 1 if kind == "open" else 5))
        order.update(invoice_id=f"INV-{number:07d}", invoice_date=invoice_date,
                     due_date=invoice_date + dt.timedelta(days=30))
    if number % APPROVER_ROWS == 0 and kind == "new":
        order.update(override_approver="Maria Lopez", override_amount=amount,
                     override_expires=AS_OF + dt.timedelta(days=30),
                     override_reason="Stammkunde, Zahlung zugesagt")
    return order


def _payments(rng: random.Random, paid: list[dict], people: list[dict], rows: int):
    """Pay each paid invoice; split some into two instalments until there are `rows`."""
    payments = []
    splits = max(0, rows - len(paid))
    split_share = splits / len(paid) if paid else 0
    for order in paid:
        late = rng.random() < 0.05
        days = rng.randint(31, 60) if late else rng.randint(0, 28)
        date = min(order["invoice_date"] + dt.timedelta(days=days), AS_OF)
        if splits and rng.random() < split_share:
            first = (order["amount"] / 2).quantize(Decimal("0.01"))
            parts = [(first, date - dt.timedelta(days=7)), (order["amount"] - first, date)]
            splits -= 1
        else:
            parts = [(order["amount"], date)]
        for amount, when in parts:
            payments.append(_payment(order, amount, when, rng))
    while len(payments) < rows:  # a shortfall left by the random splits: on account
        person = rng.choice([p for p in people[:50] if not p["overdue"]] or people)
        payments.append({"payment_date": AS_OF - dt.timedelta(days=rng.randint(1, 300)),
                         "customer_id": person["customer_id"], "amount": Decimal("1.00"),
                         "currency": person["currency"], "method": "Card"})
    payments = payments[:rows]
    payments.sort(key=lambda payment: payment["payment_date"])
    for number, payment in enumerate(payments, start=1):
        payment["payment_id"] = f"PAY-{number:07d}"
    return payments


def _payment(order: dict, amount: Decimal, date: dt.date, rng: random.Random) -> dict:
    return {
        "payment_date": date,
        "customer_id": order["customer_id"],
        "reference": order["invoice_id"],
        "amount": amount,
        "currency": order["currency"],
        "method": rng.choice(METHODS),
    }
