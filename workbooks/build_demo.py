"""Build the three demo workbooks from IBM's public Accounts Receivable sample data.

Source: tests/data/ibm-accounts-receivable.csv, 2,466 real invoices of 100 customers
issued in 2012 and 2013 (IBM's "Accounts Receivable" sample data set, as
redistributed in the GitHub repository pthiagu2/DataMining). The demo shows the
agency on the as-of date AS_OF (3 June 2013); run the engine with that date.

Rules, applied in this order:

- Invoices dated after AS_OF are dropped: they do not exist yet on that day.
- Invoices dated in the NEW_ORDER_DAYS days up to and including AS_OF become new
  orders that are not invoiced yet: Invoice No, Invoice Date, Due Date and Status are
  empty, so the engine decides them.
- Every other invoice is an invoiced order: Order ID is `ORD-<invoiceNumber>`,
  Order Date and Invoice Date are InvoiceDate, Due Date is DueDate and Invoice No is
  the invoice number as text with its leading zeros.
- Country code -> country, letter language and currency: 391 US/en/USD,
  406 DE/de/EUR, 770 FR/fr/EUR, 818 ES/es/EUR, 897 BR/pt/USD. The base currency is
  USD. An amount is InvoiceAmount in the customer's currency.
- Salesperson: the customers sorted by id are dealt round-robin to SALESPEOPLE.
- payments.xlsx holds one payment per invoiced order settled on or before AS_OF, on
  SettledDate, for the full amount, with Reference = invoice number, Payment ID
  `PAY-<invoiceNumber>` and Method "Bank transfer" for PaperlessBill Electronic,
  "Cheque" for Paper.
- Open disputes: for the customers in DISPUTED_CUSTOMERS (the two with the most
  disputed invoices), disputed invoices dated in the DISPUTE_DAYS days before AS_OF
  get no payment, as if the dispute were still open. The real data has no invoice
  more than 45 days late, so this rule is what puts items into the 61-90 and
  over-90 aging buckets.
- Rating, from the invoices settled on or before AS_OF: no rating with fewer than
  MIN_HISTORY of them; otherwise by the share settled after the due date:
  A up to 10 %, B up to 35 %, C up to 70 %, D above.
- Credit Limit is typed for the customers in TYPED_LIMITS only; the others get the
  limit of their rating from rules/credit.yaml.
- Names, contacts and salutations are invented from fixed per-country lists, in
  sorted customer-id order; Email is `ap@<name as ASCII slug>.test`.
- Order rows are sorted by order date then invoice number; payment rows by payment
  date then invoice number; customer rows by id.

Headers come from rules/workbooks.yaml, the mapped columns first and the columns the
engine owns after them, all empty in the demo.
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.ledger import BUCKETS, build_ledger
from engine.model import Inputs, Order, Payment, RowRef

ROOT = Path(__file__).resolve().parent.parent
SOURCE_CSV = ROOT / "tests" / "data" / "ibm-accounts-receivable.csv"
WORKBOOK_MAP = ROOT / "rules" / "workbooks.yaml"

AS_OF = dt.date(2013, 6, 3)
NEW_ORDER_DAYS = 10
DISPUTE_DAYS = 180
MIN_HISTORY = 5
BASE_CURRENCY = "USD"
CREDIT_RULES = ROOT / "rules" / "credit.yaml"
# USD per EUR for the printed summary when rules/credit.yaml has no EUR rate.
FALLBACK_EUR_RATE = Decimal("1.08")
DATE_FORMAT = "yyyy-mm-dd"
AMOUNT_FORMAT = "#,##0.00"

# Country code in the data -> (country, letter language, currency).
COUNTRIES = {
    "391": ("US", "en", "USD"),
    "406": ("DE", "de", "EUR"),
    "770": ("FR", "fr", "EUR"),
    "818": ("ES", "es", "EUR"),
    "897": ("BR", "pt", "USD"),
}
# Salesperson codes, as the sheets and the contacts in rules/credit.yaml use them, of
# Anna Keller, Bruno Sousa, Claire Martin and Diego López.
SALESPEOPLE = ("AKE", "BSO", "CMA", "DLU")
DISPUTED_CUSTOMERS = ("3448-OWJOT", "3568-JJMFW")
# Customer id -> typed credit limit, all three customers invoiced in USD. With its
# new orders 0187-ERLSR stays far below 500, 0379-NEVHP goes over 120 and 8156-PCYBM
# comes close to 160, so the typed limits approve, block and warn.
TYPED_LIMITS = {
    "0187-ERLSR": Decimal("500.00"),
    "0379-NEVHP": Decimal("120.00"),
    "8156-PCYBM": Decimal("160.00"),
}
RATING_STEPS = ((Decimal("0.10"), "A"), (Decimal("0.35"), "B"), (Decimal("0.70"), "C"))

# Per country: company name pattern, surnames (or cities), contact first names as
# (name, "f" or "m").
NAMES = {
    "US": (
        "{} Travel Inc.",
        "Anderson Brooks Carter Dawson Ellis Foster Grant Hayes Irving Jensen Keller "
        "Lawson Morgan Nolan Owens Parker Quinn Reed Sawyer Turner Underwood Vaughn "
        "Walker Young Zimmer".split(),
        "Emily:f James:m Olivia:f Mia:f Noah:m".split(),
    ),
    "DE": (
        "Reisebüro {} GmbH",
        "Müller Schäfer Weiß Köhler Groß Jäger Krüger Schröder Förster Hoffmann "
        "Wagner Becker Schulz Koch Richter Klein Wolf Neumann Schwarz Zimmermann "
        "Braun Hartmann Lange".split(),
        "Jürgen:m Hanna:f Sören:m Käthe:f Lukas:m".split(),
    ),
    "FR": (
        "Voyages {} SARL",
        "Lefèvre Girard Bonnet Dupré Mercier Thérond Faure Rousseau Blanc Guérin "
        "Chevalier François Gauthier Perrin Robin Clément Morel Fontaine Lemaître "
        "Noël".split(),
        "Hélène:f Frédéric:m Zoé:f Jérôme:m Anaïs:f".split(),
    ),
    "ES": (
        "Viajes {} S.L.",
        "Peña Núñez Ibáñez Muñoz Gómez Martín Sánchez Pérez Jiménez Rodríguez "
        "Fernández Álvarez Romero Navarro Domínguez Gutiérrez".split(),
        "José:m María:f Íñigo:m Begoña:f Sofía:f".split(),
    ),
    "BR": (
        "Agência Viagens {}",
        "São_Paulo Belém Goiânia Florianópolis Maceió Niterói Vitória Uberlândia "
        "Ribeirão_Preto Jundiaí Petrópolis Curitiba Recife Salvador Fortaleza "
        "Manaus".split(),
        "João:m Conceição:f Márcio:m Luíza:f Tomás:m".split(),
    ),
}
BR_SURNAMES = "Silva Araújo Gonçalves Simões Magalhães".split()
SALUTATIONS = {
    "en": {"f": "Ms", "m": "Mr"},
    "de": {"f": "Frau", "m": "Herr"},
    "fr": {"f": "Madame", "m": "Monsieur"},
    "es": {"f": "Sra.", "m": "Sr."},
    "pt": {"f": "Sra.", "m": "Sr."},
}


@dataclass(frozen=True)
class Invoice:
    """One row of the source CSV."""

    country_code: str
    customer_id: str
    invoice_number: str
    invoice_date: dt.date
    due_date: dt.date
    settled_date: dt.date
    amount: Decimal
    disputed: bool
    paperless: bool
    days_late: int


def read_invoices(path: Path) -> list[Invoice]:
    """Read the IBM CSV, whose dates are in US month/day/year form."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [_invoice(row) for row in csv.DictReader(handle)]


def _invoice(row: dict[str, str]) -> Invoice:
    return Invoice(
        country_code=row["countryCode"],
        customer_id=row["customerID"],
        invoice_number=row["invoiceNumber"],
        invoice_date=_us_date(row["InvoiceDate"]),
        due_date=_us_date(row["DueDate"]),
        settled_date=_us_date(row["SettledDate"]),
        amount=Decimal(row["InvoiceAmount"]),
        disputed=row["Disputed"] == "Yes",
        paperless=row["PaperlessBill"] == "Electronic",
        days_late=int(row["DaysLate"]),
    )


def _us_date(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%m/%d/%Y").date()


def read_headers(path: Path = WORKBOOK_MAP) -> dict[str, list[str]]:
    """Return the headers of each source in the workbook map, owned columns last."""
    sources = YAML(typ="safe").load(path.read_text(encoding="utf-8"))["sources"]
    return {
        kind: list(source["columns"].values()) + list(source.get("owned", {}).values())
        for kind, source in sources.items()
    }


@dataclass
class DemoData:
    """The rows of the three workbooks, keyed by header, and each customer's rating."""

    orders: list[dict[str, object]]
    payments: list[dict[str, object]]
    customers: list[dict[str, object]]
    ratings: dict[str, str | None]


def build_rows(invoices: list[Invoice], as_of: dt.date = AS_OF) -> DemoData:
    """Apply the rules in the module docstring to the source invoices."""
    invoices = sorted(
        (inv for inv in invoices if inv.invoice_date <= as_of),
        key=lambda inv: (inv.invoice_date, inv.invoice_number),
    )
    new_from = as_of - dt.timedelta(days=NEW_ORDER_DAYS - 1)
    customers = _customer_rows(invoices, as_of)
    by_id = {row["Customer ID"]: row for row in customers}

    orders = []
    payments = []
    for inv in invoices:
        customer = by_id[inv.customer_id]
        is_new = inv.invoice_date >= new_from
        orders.append(_order_row(inv, customer, is_new))
        if not is_new and _is_paid(inv, as_of):
            payments.append(_payment_row(inv, customer))
    payments.sort(key=lambda row: (row["Payment Date"], row["Reference"]))
    ratings = {row["Customer ID"]: row["Rating"] for row in customers}
    return DemoData(orders, payments, customers, ratings)


def _is_paid(inv: Invoice, as_of: dt.date) -> bool:
    if inv.settled_date > as_of:
        return False
    in_dispute = (
        inv.disputed
        and inv.customer_id in DISPUTED_CUSTOMERS
        and (as_of - inv.invoice_date).days < DISPUTE_DAYS
    )
    return not in_dispute


def _order_row(inv: Invoice, customer: dict, is_new: bool) -> dict[str, object]:
    row: dict[str, object] = {
        "Order ID": f"ORD-{inv.invoice_number}",
        "Order Date": inv.invoice_date,
        "Customer ID": inv.customer_id,
        "Salesperson": customer["Salesperson"],
        "Amount": inv.amount,
        "Currency": customer["Currency"],
    }
    if not is_new:
        row["Invoice No"] = inv.invoice_number
        row["Invoice Date"] = inv.invoice_date
        row["Due Date"] = inv.due_date
    return row


def _payment_row(inv: Invoice, customer: dict) -> dict[str, object]:
    return {
        "Payment ID": f"PAY-{inv.invoice_number}",
        "Payment Date": inv.settled_date,
        "Customer ID": inv.customer_id,
        "Reference": inv.invoice_number,
        "Amount": inv.amount,
        "Currency": customer["Currency"],
        "Method": "Bank transfer" if inv.paperless else "Cheque",
    }


def _customer_rows(invoices: list[Invoice], as_of: dt.date) -> list[dict]:
    country_of = {inv.customer_id: inv.country_code for inv in invoices}
    history: dict[str, list[int]] = defaultdict(list)
    for inv in invoices:
        if inv.settled_date <= as_of:
            history[inv.customer_id].append(inv.days_late)

    rows = []
    seen_in_country: Counter[str] = Counter()
    for index, customer_id in enumerate(sorted(country_of)):
        country, language, currency = COUNTRIES[country_of[customer_id]]
        position = seen_in_country[country]
        seen_in_country[country] += 1
        name, contact, salutation = _invent_contact(country, language, position)
        rows.append(
            {
                "Customer ID": customer_id,
                "Name": name,
                "Country": country,
                "Rating": _rating(history[customer_id]),
                "Credit Limit": TYPED_LIMITS.get(customer_id),
                "Salesperson": SALESPEOPLE[index % len(SALESPEOPLE)],
                "Contact": contact,
                "Salutation": salutation,
                "Email": f"ap@{_slug(name)}.test",
                "Language": language,
                "Currency": currency,
            }
        )
    return rows


def _rating(days_late: list[int]) -> str | None:
    if len(days_late) < MIN_HISTORY:
        return None
    late_share = Decimal(sum(1 for days in days_late if days > 0)) / len(days_late)
    for ceiling, rating in RATING_STEPS:
        if late_share <= ceiling:
            return rating
    return "D"


def _invent_contact(country: str, language: str, position: int) -> tuple[str, ...]:
    pattern, words, first_names = NAMES[country]
    word = words[position].replace("_", " ")
    first_name, gender = first_names[position % len(first_names)].split(":")
    surname = BR_SURNAMES[position % len(BR_SURNAMES)] if country == "BR" else word
    return (
        pattern.format(word),
        f"{first_name} {surname}",
        SALUTATIONS[language][gender],
    )


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = "".join(ch if ch.isalnum() else " " for ch in ascii_name.lower()).split()
    return "-".join(words)


def write_workbook(
    path: Path, sheet: str, headers: list[str], rows: list[dict]
) -> None:
    """Write one sheet: bold frozen header, real dates and `#,##0.00` amounts."""
    book = Workbook()
    ws = book.active
    ws.title = sheet
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for row in rows:
        ws.append([row.get(header) for header in headers])
    for column in ws.iter_cols(min_row=2):
        for cell in column:
            if isinstance(cell.value, dt.date):
                cell.number_format = DATE_FORMAT
            elif isinstance(cell.value, Decimal):
                cell.number_format = AMOUNT_FORMAT
    for index, header in enumerate(headers, start=1):
        letter = ws.cell(row=1, column=index).column_letter
        ws.column_dimensions[letter].width = max(12, len(header) + 4)
    book.save(path)


def build(out_dir: Path, source: Path = SOURCE_CSV, as_of: dt.date = AS_OF) -> DemoData:
    """Write orders.xlsx, payments.xlsx and customers.xlsx into `out_dir`."""
    data = build_rows(read_invoices(source), as_of)
    headers = read_headers()
    out_dir.mkdir(parents=True, exist_ok=True)
    write_workbook(out_dir / "orders.xlsx", "Orders", headers["orders"], data.orders)
    write_workbook(
        out_dir / "payments.xlsx", "Payments", headers["payments"], data.payments
    )
    write_workbook(
        out_dir / "customers.xlsx", "Customers", headers["customers"], data.customers
    )
    return data


def demo_inputs(data: DemoData) -> Inputs:
    """Return the demo rows as the typed rows the engine reads from the workbooks."""
    orders = [
        Order(
            order_id=row["Order ID"],
            customer_id=row["Customer ID"],
            order_date=row["Order Date"],
            amount=row["Amount"],
            currency=row["Currency"],
            ref=RowRef("orders.xlsx", "Orders", number),
            salesperson=row["Salesperson"],
            invoice_id=row.get("Invoice No"),
            invoice_date=row.get("Invoice Date"),
            due_date=row.get("Due Date"),
        )
        for number, row in enumerate(data.orders, start=2)
    ]
    payments = [
        Payment(
            payment_id=row["Payment ID"],
            customer_id=row["Customer ID"],
            payment_date=row["Payment Date"],
            amount=row["Amount"],
            currency=row["Currency"],
            ref=RowRef("payments.xlsx", "Payments", number),
            reference=row["Reference"],
            method=row["Method"],
        )
        for number, row in enumerate(data.payments, start=2)
    ]
    return Inputs(orders=orders, payments=payments)


def summary_eur_rate(path: Path = CREDIT_RULES) -> Decimal:
    """Return the EUR rate of the rules' FX table, or FALLBACK_EUR_RATE without one."""
    if not path.exists():
        return FALLBACK_EUR_RATE
    rules = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    rate = (rules.get("fx") or {}).get("EUR")
    return Decimal(str(rate)) if rate is not None else FALLBACK_EUR_RATE


def summary_lines(data: DemoData, as_of: dt.date = AS_OF) -> list[str]:
    """Describe the demo on `as_of`: row counts, aging and exposure per rating."""
    rates = {BASE_CURRENCY: Decimal(1), "EUR": summary_eur_rate()}
    inputs = demo_inputs(data)
    ledger = build_ledger(inputs, as_of, lambda amount, code, ref: amount * rates[code])
    new_orders: dict[str, Decimal] = defaultdict(Decimal)
    for order in inputs.orders:
        if order.invoice_id is None:
            new_orders[order.customer_id] += order.amount * rates[order.currency]

    not_invoiced = sum(1 for row in data.orders if "Invoice No" not in row)
    lines = [
        (
            f"As-of date {as_of.isoformat()}, base currency {BASE_CURRENCY}, "
            f"EUR at {rates['EUR']} USD for this summary"
        ),
        f"orders.xlsx     {len(data.orders):5d} orders, {not_invoiced} not invoiced",
        f"payments.xlsx   {len(data.payments):5d} payments",
        f"customers.xlsx  {len(data.customers):5d} customers",
    ]
    items = [
        item for account in ledger.accounts.values() for item in account.open_items
    ]
    counts = Counter(item.bucket for item in items)
    lines.append(
        "open items      " + ", ".join(f"{b} {counts.get(b, 0)}" for b in BUCKETS)
    )
    lines.append("exposure (USD) with every new order approved, per rating:")
    by_rating: dict[str, list[Decimal]] = defaultdict(list)
    for customer_id, rating in data.ratings.items():
        account = ledger.account(customer_id)
        exposure = account.exposure + new_orders.get(customer_id, Decimal(0))
        by_rating[rating or "none"].append(exposure)
    for rating, values in sorted(by_rating.items()):
        values.sort()
        lines.append(
            f"  {rating}: {len(values):3d} customers, "
            f"median {_percentile(values, 50)}, "
            f"90th percentile {_percentile(values, 90)}, max {values[-1]:.2f}"
        )
    return lines


def _percentile(values: list[Decimal], percent: int) -> str:
    """Return the nearest-rank percentile of sorted values, to the cent."""
    rank = max(1, -(-len(values) * percent // 100))
    return f"{values[rank - 1]:.2f}"


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "workbooks"
    data = build(out_dir)
    print("\n".join(summary_lines(data)))


if __name__ == "__main__":
    main()
