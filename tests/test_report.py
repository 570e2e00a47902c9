"""The report workbook: sheets, totals to the cent, formats and atomic replacement."""

from __future__ import annotations

import datetime as dt
import os
import stat
from decimal import Decimal

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from engine.aging import BUCKETS
from engine.ledger import build_ledger
from engine.model import Customer, Inputs, Order, Payment, RowRef
from engine.report import write_report

AS_OF = dt.date(2024, 3, 1)
D = Decimal


def order(number, customer, amount, due, currency="USD", invoiced=True, status=None):
    invoice_date = due - dt.timedelta(days=30)
    return Order(
        order_id=f"ORD-{number}",
        customer_id=customer,
        order_date=invoice_date,
        amount=D(amount),
        currency=currency,
        ref=RowRef("orders.xlsx", "Orders", number + 1),
        invoice_id=f"INV-{number}" if invoiced else None,
        invoice_date=invoice_date if invoiced else None,
        due_date=due if invoiced else None,
        status=status,
    )


def customer(customer_id, name, salesperson, row):
    return Customer(
        customer_id,
        name,
        RowRef("customers.xlsx", "Customers", row),
        salesperson=salesperson,
    )


@pytest.fixture
def customers():
    return {
        "C1": customer("C1", "Reisebüro Müller GmbH", "AKE", 2),
        "C2": customer("C2", "Agência Viagens São Paulo", "AKE", 3),
        "C3": customer("C3", "Voyages Noël SARL", "BSO", 4),
        "C4": customer("C4", "Anderson Travel Inc.", None, 5),
    }


def build(customers, to_base=lambda amount, currency, ref: amount):
    orders = [
        order(1, "C1", "100.10", dt.date(2024, 3, 10)),
        order(2, "C1", "200.20", dt.date(2024, 2, 10)),
        order(3, "C2", "33.33", dt.date(2024, 1, 15)),
        order(4, "C2", "66.67", dt.date(2023, 12, 15)),
        order(5, "C3", "45.05", dt.date(2023, 10, 1)),
        order(6, "C3", "19.99", dt.date(2024, 4, 1), invoiced=False, status="APPROVED"),
        order(7, "C4", "12.34", dt.date(2024, 2, 1), currency="EUR"),
        order(8, "C4", "56.78", dt.date(2024, 1, 1), currency="EUR"),
    ]
    payments = [
        Payment(
            "P1",
            "C1",
            dt.date(2024, 2, 1),
            D("50.00"),
            "USD",
            RowRef("payments.xlsx", "Payments", 2),
            reference="INV-2",
        ),
        Payment(
            "P2",
            "C3",
            dt.date(2024, 2, 1),
            D("100.00"),
            "USD",
            RowRef("payments.xlsx", "Payments", 3),
        ),
    ]
    inputs = Inputs(
        customers=list(customers.values()), orders=orders, payments=payments
    )
    return build_ledger(inputs, AS_OF, to_base)


def read_sheet(path, name):
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name).to_python()


def cents(value) -> Decimal:
    return D(str(value)).quantize(D("0.01"))


def test_report_totals_equal_ledger(tmp_path, customers):
    ledger = build(customers)
    path = tmp_path / "report" / "arrears-report.xlsx"
    limits = {"C1": D("500"), "C2": None, "C3": D("0"), "C4": D("100")}

    write_report(path, ledger, customers, limits, {"AKE": D("1000")}, AS_OF, "USD")

    rows = read_sheet(path, "By customer")
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert header[:3] == ["Customer ID", "Name", "Salesperson"]
    assert [row[0] for row in body] == ["C1", "C2", "C3", "C4"]
    assert total[0] == "Total"
    accounts = ledger.accounts.values()
    column = {name: header.index(name) for name in header}
    assert cents(total[column["Outstanding"]]) == sum(a.outstanding for a in accounts)
    assert cents(total[column["Overdue"]]) == sum(a.overdue for a in accounts)
    assert cents(total[column["Credit"]]) == sum(a.credit for a in accounts)
    assert cents(total[column["Pending"]]) == sum(a.pending for a in accounts)
    assert cents(total[column["Exposure"]]) == sum(a.exposure for a in accounts)
    for bucket, name in zip(BUCKETS, ["Not Due", "1-30", "31-60", "61-90", "Over 90"]):
        assert cents(total[column[name]]) == sum(a.buckets[bucket] for a in accounts)
    assert body[0][1] == "Reisebüro Müller GmbH"
    assert body[0][column["Utilisation %"]] == pytest.approx(250.3 / 500)
    assert body[1][column["Utilisation %"]] == ""
    assert body[2][column["Utilisation %"]] == ""


def test_report_salesperson_totals(tmp_path, customers):
    ledger = build(customers)
    path = tmp_path / "arrears-report.xlsx"

    write_report(path, ledger, customers, {}, {"AKE": D("1000")}, AS_OF, "USD")

    rows = read_sheet(path, "By salesperson")
    header = rows[0]
    by_name = {row[0]: row for row in rows[1:]}
    exposure = header.index("Exposure")
    assert sorted(by_name) == ["(none)", "AKE", "BSO", "Total"]
    # A customer's credit balance counts as 0 against the salesperson limit.
    ake = max(ledger.account("C1").exposure, 0) + max(ledger.account("C2").exposure, 0)
    assert cents(by_name["AKE"][exposure]) == ake
    assert by_name["AKE"][header.index("Customers")] == 2
    assert by_name["AKE"][header.index("Limit")] == 1000
    assert by_name["AKE"][header.index("Utilisation %")] == pytest.approx(
        float(ake) / 1000
    )
    total = sum(max(a.exposure, 0) for a in ledger.accounts.values())
    assert total != sum(a.exposure for a in ledger.accounts.values())
    assert cents(by_name["Total"][exposure]) == total


def test_report_open_items(tmp_path, customers):
    ledger = build(customers)
    path = tmp_path / "arrears-report.xlsx"

    write_report(path, ledger, customers, {}, {}, AS_OF, "USD")

    rows = read_sheet(path, "Open items")
    items = [item for a in ledger.accounts.values() for item in a.open_items]
    assert len(rows) == len(items) + 2
    header = rows[0]
    open_column = header.index("Open Amount")
    assert cents(rows[-1][open_column]) == sum(item.open_amount for item in items)
    by_invoice = {row[header.index("Invoice No")]: row for row in rows[1:-1]}
    assert by_invoice["INV-4"][header.index("Days Overdue")] == 77
    assert by_invoice["INV-4"][header.index("Bucket")] == "61-90"
    assert "INV-5" not in by_invoice
    assert by_invoice["INV-2"][header.index("Due Date")] == dt.date(2024, 2, 10)


def test_report_rounds_fx_and_adds_cells(tmp_path, customers):
    ledger = build(customers, lambda amount, currency, ref: amount * D("1.0837"))
    path = tmp_path / "arrears-report.xlsx"

    write_report(path, ledger, customers, {}, {}, AS_OF, "USD")

    rows = read_sheet(path, "By customer")
    column = rows[0].index("Outstanding")
    cells = [cents(row[column]) for row in rows[1:-1]]
    assert cents(rows[-1][column]) == sum(cells)
    assert sum(cells) == sum(a.outstanding for a in ledger.accounts.values())
    items = read_sheet(path, "Open items")
    open_column = items[0].index("Open Amount")
    assert cents(items[-1][open_column]) == sum(cells)


def test_report_formats_freeze_and_filter(tmp_path, customers):
    path = tmp_path / "arrears-report.xlsx"

    write_report(path, build(customers), customers, {"C1": D("500")}, {}, AS_OF, "USD")

    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["By customer", "By salesperson", "Open items", "About"]
    sheet = book["By customer"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:O5"
    assert sheet["D2"].number_format == "#,##0.00"
    assert sheet["O2"].number_format == "0.0%"
    assert book["Open items"]["F2"].number_format == "yyyy-mm-dd"
    assert book["About"]["B1"].value.date() == AS_OF
    assert book["About"]["B2"].value == "USD"


def test_report_replaces_old_file(tmp_path, customers):
    path = tmp_path / "arrears-report.xlsx"
    path.write_bytes(b"an older report")

    write_report(path, build(customers), customers, {}, {}, AS_OF, "USD")

    assert read_sheet(path, "By customer")[0][0] == "Customer ID"
    assert [p.name for p in tmp_path.iterdir()] == ["arrears-report.xlsx"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_report_new_file_follows_umask(tmp_path, customers):
    path = tmp_path / "arrears-report.xlsx"
    old_umask = os.umask(0o022)
    try:
        write_report(path, build(customers), customers, {}, {}, AS_OF, "USD")
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_report_keeps_old_file_mode(tmp_path, customers):
    path = tmp_path / "arrears-report.xlsx"
    path.write_bytes(b"an older report")
    path.chmod(0o640)

    write_report(path, build(customers), customers, {}, {}, AS_OF, "USD")

    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_report_keeps_formula_text_as_text(tmp_path):
    named = {
        "C1": customer("C1", '=HYPERLINK("http://example.invalid","x")', "AKE", 2),
        "C2": customer("C2", "#N/A", "AKE", 3),
        "C3": customer("C3", "Voyages Noël SARL", "BSO", 4),
        "C4": customer("C4", "Anderson Travel Inc.", None, 5),
    }
    path = tmp_path / "arrears-report.xlsx"

    write_report(path, build(named), named, {}, {}, AS_OF, "USD")

    sheet = openpyxl.load_workbook(path)["By customer"]
    names = {sheet.cell(row, 1).value: sheet.cell(row, 2) for row in range(2, 6)}
    assert names["C1"].value == '=HYPERLINK("http://example.invalid","x")'
    assert names["C1"].data_type == "s"
    assert names["C2"].value == "#N/A"
    assert names["C2"].data_type == "s"
