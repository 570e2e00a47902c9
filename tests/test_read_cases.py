"""Recorded reading failures: formulas, date systems, text dates and amounts, layouts."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from engine.findings import EngineError
from engine.inputs import read_inputs
from engine.workbook_map import SourceMap, WorkbookMap
from engine.xlsx.read import read_sheet
from tests.conftest import REFERENCE_CASES

DATA = Path(__file__).parent / "data" / "cases_read"
WINDOW = (dt.date(2000, 1, 1), dt.date(2044, 12, 31))
ORDER_COLUMNS = {"order_id": "OrderID", "order_date": "OrderDate",
                 "customer_id": "CustomerID", "amount": "Amount", "currency": "Currency"}


def source(kind, file, sheet, columns, owned=None, **settings) -> SourceMap:
    settings.setdefault("date_window", WINDOW)
    header_row = settings.pop("header_row", None)
    return SourceMap(kind, file, sheet, header_row, columns, owned or {}, **settings)


def workbook_map(folder: Path, *sources: SourceMap) -> WorkbookMap:
    return WorkbookMap(path=folder / "workbooks.yaml", root=folder, folder=folder,
                       report=folder / "r.xlsx", outbox=folder, state=folder / "s",
                       locale="en_US", date_order="MDY",
                       sources={s.kind: s for s in sources})


def orders_map(case: str, file: str, **settings) -> WorkbookMap:
    orders = source("orders", file, "Orders", ORDER_COLUMNS,
                    {"status": "Status", "reason": "Reason"}, **settings)
    return workbook_map(DATA / case, orders)


# Case 01: formula cells whose cached value cannot be trusted.

def test_formula_excel_control():
    inputs, _, findings = read_inputs(
        orders_map("01_formula_no_cached_value", "orders_excel_like.xlsx"))
    assert findings == []
    assert [o.amount for o in inputs.orders] == [Decimal(4000), Decimal(3000),
                                                 Decimal(1500), Decimal(3500)]


def test_formula_without_cached_value():
    inputs, _, findings = read_inputs(
        orders_map("01_formula_no_cached_value", "orders_written_by_openpyxl.xlsx"))
    assert inputs.orders == []
    assert [h.key for h in inputs.held] == ["ORD-1001", "ORD-1002", "ORD-1005", "ORD-1006"]
    assert str(findings[0]) == (
        'orders_written_by_openpyxl.xlsx › Orders › G2: formula "=E2*F2" has no cached '
        "result (file last saved by a program that does not calculate). Open and save "
        "it in Excel, or enable recalculation.")
    assert len(findings) == 4


def test_formula_cached_zero():
    inputs, _, findings = read_inputs(
        orders_map("01_formula_no_cached_value", "orders_written_by_xlsxwriter.xlsx"))
    assert inputs.orders == []
    assert len(inputs.held) == 4
    assert findings[3].message == (
        'formula "=E5*F5" has a cached result of 0 that was never calculated (file last '
        "saved by a program that does not calculate).")


def test_formula_error_values():
    inputs, _, findings = read_inputs(
        orders_map("01_formula_no_cached_value", "orders_error_values.xlsx"))
    assert [str(f) for f in findings] == [
        'orders_error_values.xlsx › Orders › G2: formula "=VLOOKUP("XX",E2:F3,2,FALSE)" '
        "returned the error #N/A. Correct the formula in Excel.",
        'orders_error_values.xlsx › Orders › G3: formula "=E3/0" returned the error '
        "#DIV/0!. Correct the formula in Excel.",
        'orders_error_values.xlsx › Orders › G4: formula "=#REF!*2" returned the error '
        "#REF!. Correct the formula in Excel.",
    ]
    assert [(o.order_id, o.amount) for o in inputs.orders] == [("ORD-1006", Decimal(3500))]


# Case 02: the 1904 date system.

INVOICE_COLUMNS = {"order_id": "InvoiceID", "invoice_id": "InvoiceID",
                   "customer_id": "CustomerID", "order_date": "InvoiceDate",
                   "invoice_date": "InvoiceDate", "due_date": "DueDate",
                   "amount": "Amount", "currency": "Currency"}


def invoices(file: str, columns=INVOICE_COLUMNS):
    invoices_source = source("orders", file, "Payments", columns)
    return read_inputs(workbook_map(DATA / "02_date_system_1904", invoices_source))


def test_1904_twins_identical():
    inputs_1904, reads, findings_1904 = invoices("payments_1904.xlsx")
    inputs_1900, _, findings_1900 = invoices("payments_1900.xlsx")
    assert reads["orders"].date1904 is True
    assert findings_1904 == findings_1900 == []
    due = [o.due_date for o in inputs_1904.orders]
    assert due == [dt.date(2024, 6, 1), dt.date(2024, 6, 20), dt.date(2024, 5, 1),
                   dt.date(2024, 7, 15)]
    assert due == [o.due_date for o in inputs_1900.orders]


def test_1904_serial_number_rejected():
    columns = dict(INVOICE_COLUMNS, due_date="DueSerial")
    inputs, _, findings = invoices("payments_1904.xlsx", columns)
    assert inputs.orders == []
    assert str(findings[0]) == (
        "payments_1904.xlsx › Payments › H2 (INV-2024-017): expected a date, found "
        "number 43982. Format the cell as a date (this workbook's 1904 date system "
        "reads it as 2024-06-01).")


CASES = REFERENCE_CASES if REFERENCE_CASES.is_dir() else None


@pytest.mark.skipif(
    CASES is None, reason=f"reference cases not found at {REFERENCE_CASES}"
)
@pytest.mark.parametrize("name", ["1904.xlsx", "1900.xlsx"])
def test_public_date_system_pair(name):
    """Excel-saved pair: the date read from column B equals Excel's text in column C."""
    from engine.xlsx.read import parse_grid
    from engine.xlsx.sheetscan import open_package

    data = (Path(CASES) / "02_date_system_1904" / "real" / name).read_bytes()
    assert open_package(data, name).date1904 is (name == "1904.xlsx")
    grid, _ = parse_grid(data, "Sheet1", name)
    assert [row[1].isoformat() for row in grid] == [row[2] for row in grid]


def test_epoch_pair_built(tmp_path):
    """A date cell reads as the date written as text beside it, in both date systems."""
    from openpyxl import Workbook
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    for epoch in (None, CALENDAR_MAC_1904):
        book = Workbook()
        if epoch:
            book.epoch = epoch
        sheet = book.active
        sheet.title = "Sheet1"
        sheet.append(["Order ID", "Order Date", "Customer ID", "Amount", "Shown"])
        for day in (dt.date(2001, 1, 2), dt.date(2024, 2, 29), dt.date(2030, 6, 2)):
            sheet.append(["O" + day.isoformat(), day, "C1", 1, day.isoformat()])
        path = tmp_path / f"book{1904 if epoch else 1900}.xlsx"
        book.save(path)
        columns = {"order_id": "Order ID", "order_date": "Order Date",
                   "customer_id": "Customer ID", "amount": "Amount",
                   "salesperson": "Shown"}
        inputs, reads, findings = read_inputs(
            workbook_map(tmp_path, source("orders", path.name, "Sheet1", columns)))
        assert reads["orders"].date1904 is bool(epoch)
        assert findings == []
        assert len(inputs.orders) == 3
        assert [o.order_date.isoformat() for o in inputs.orders] == [
            o.salesperson for o in inputs.orders]


# Case 03: due dates typed as text, pasted as serials, or implausible.

def mixed_dates(**settings):
    columns = {"payment_id": "InvoiceID", "customer_id": "CustomerID",
               "payment_date": "DueDate", "amount": "Amount", "currency": "Currency"}
    payments = source("payments", "payments_mixed_dates.xlsx", "Payments", columns,
                      **settings)
    return read_inputs(workbook_map(DATA / "03_dates_as_text_or_numbers", payments))


def test_text_dates_dmy():
    inputs, _, findings = mixed_dates(date_order="DMY")
    read = {p.payment_id: p.payment_date for p in inputs.payments}
    assert read == {
        "INV-3001": dt.date(2024, 6, 1),
        "INV-3002": dt.date(2024, 6, 1),
        "INV-3003": dt.date(2024, 6, 13),
        "INV-3006": dt.date(2024, 6, 20),
    }
    assert [str(f) for f in findings] == [
        "payments_mixed_dates.xlsx › Payments › C10: serial number 60 is 29 February "
        "1900 in Excel, a day that did not exist. Enter the real date.",
        "payments_mixed_dates.xlsx › Payments › column C: text dates are typed in two "
        "orders: C4 can only be DD/MM/YYYY and C5 only MM/DD/YYYY; all are read as "
        "DD/MM/YYYY (date_order DMY). Retype the column's dates as real dates, or all "
        "in one order.",
        "payments_mixed_dates.xlsx › Payments › C5 (INV-3004): '06/13/2024' is not a "
        "valid date. Check the day and month (read as DD/MM/YYYY).",
        "payments_mixed_dates.xlsx › Payments › C6 (INV-3005): '20.06.2024' does not "
        "match the date formats in use (DD/MM/YYYY or YYYY-MM-DD). Enter the date in one "
        "of them, or add its pattern to date_formats in rules/workbooks.yaml.",
        "payments_mixed_dates.xlsx › Payments › C8 (INV-3007): '31/06/2024' is not a "
        "valid date. Check the day and month (read as DD/MM/YYYY).",
        "payments_mixed_dates.xlsx › Payments › C9 (INV-3008): expected a date, found "
        "number 45444. Format the cell as a date (this workbook's 1900 date system reads "
        "it as 2024-06-01).",
        "payments_mixed_dates.xlsx › Payments › C11 (INV-3010): date 2204-06-01 is "
        "outside the plausible range 2000-01-01 to 2044-12-31. Check the year.",
        "payments_mixed_dates.xlsx › Payments › C12 (INV-3011): date is missing. Enter "
        "the date.",
        "payments_mixed_dates.xlsx › Payments › C13 (INV-3012): 'sofort' is not a date. "
        "Enter a date.",
    ]
    assert len(inputs.held) == 8


def test_text_dates_extra_format():
    inputs, _, _ = mixed_dates(date_order="DMY", date_formats=("DD.MM.YYYY",))
    read = {p.payment_id: p.payment_date for p in inputs.payments}
    assert read["INV-3005"] == dt.date(2024, 6, 20)


def test_text_dates_mdy_never_swapped():
    inputs, _, _ = mixed_dates(date_order="MDY")
    read = {p.payment_id: p.payment_date for p in inputs.payments}
    assert read["INV-3002"] == dt.date(2024, 1, 6)
    assert read["INV-3004"] == dt.date(2024, 6, 13)
    assert "INV-3003" not in read


# Case 04: amounts and credit limits typed as text.

def text_amounts(locale: str):
    columns = dict(ORDER_COLUMNS)
    orders = source("orders", "orders_text_amounts.xlsx", "Orders", columns,
                    locale=locale)
    customers = source("customers", "customers_text_limits.xlsx", "Customers",
                       {"customer_id": "CustomerID", "name": "Company",
                        "credit_limit": "CreditLimit", "currency": "Currency"},
                       locale=locale)
    return read_inputs(workbook_map(DATA / "04_numbers_stored_as_text", orders, customers))


def test_text_amounts_en_us():
    inputs, _, findings = text_amounts("en_US")
    amounts = {o.order_id: o.amount for o in inputs.orders}
    assert amounts == {
        "ORD-4001": Decimal("1234.50"),
        "ORD-4005": Decimal("1200"),
        "ORD-4007": Decimal("2500"),
        "ORD-4008": Decimal("-300.00"),
        "ORD-4010": Decimal("1234"),
        "ORD-4013": Decimal("4000"),
        "ORD-4014": Decimal("4000"),
    }
    held = [h.key for h in inputs.held if h.kind == "orders"]
    assert held == ["ORD-4002", "ORD-4003", "ORD-4004", "ORD-4006", "ORD-4009",
                    "ORD-4011", "ORD-4012"]
    assert "orders_text_amounts.xlsx › Orders › F4 (ORD-4003): '1\\u00a0234,50' is not " \
        "a number in locale en_US." in [f"{f.where}: {f.message}" for f in findings]


def test_text_amounts_de_de():
    inputs, _, findings = text_amounts("de_DE")
    amounts = {o.order_id: o.amount for o in inputs.orders}
    assert amounts == {
        "ORD-4002": Decimal("1234.50"),
        "ORD-4003": Decimal("1234.50"),
        "ORD-4004": Decimal("1234.50"),
        "ORD-4005": Decimal("1200"),
        "ORD-4006": Decimal("2500"),
        "ORD-4007": Decimal("2500"),
        "ORD-4013": Decimal("4000"),
        "ORD-4014": Decimal("4000"),
    }
    messages = [f"{f.where}: {f.message}" for f in findings]
    assert ("orders_text_amounts.xlsx › Orders › F11 (ORD-4010): '1,234' is ambiguous: "
            "',' followed by three digits could be a thousands separator.") in messages


def test_text_credit_limits():
    inputs, _, findings = text_amounts("de_DE")
    limits = {c.customer_id: c.credit_limit for c in inputs.customers}
    # The held customer keeps a record without a limit, so it still counts in its
    # salesperson's total.
    assert limits == {"C001": Decimal("10000.00"), "C002": None,
                      "C003": Decimal("5000"), "C004": Decimal("8000")}
    held = [h for h in inputs.held if h.kind == "customers"]
    assert [(h.key, h.ref.row) for h in held] == [("C002", 3)]
    assert str(findings[0]) == (
        "customers_text_limits.xlsx › Customers › G3 (C002): '¥1,200,000' is not a number "
        "in locale de_DE. Enter it as a number, or as text such as 1.234,50 for locale "
        "de_DE.")


# Case 05: header not on row 1, grouped headers, title and totals rows.

REPORT_COLUMNS = {"order_id": "Order", "customer_id": "Customer/ID",
                  "order_date": "Destination", "amount": "Amount/Net",
                  "currency": "Amount/Currency"}


def test_report_layout_matches_flat():
    folder = DATA / "05_merged_header_offset"
    layout = read_sheet(folder / "orders_report_layout.xlsx",
                        source("orders", "orders.xlsx", "Orders Q2", REPORT_COLUMNS,
                               {"status": "Credit check/Status", "reason": "Reason"}))
    flat = read_sheet(folder / "orders_header_row1.xlsx",
                      source("orders", "orders.xlsx", "Orders Q2",
                             dict(REPORT_COLUMNS, order_id="OrderID",
                                  customer_id="CustomerID", amount="Amount",
                                  currency="Currency"),
                             {"status": "Status", "reason": "Reason"}))
    assert layout.header_row == 4
    assert flat.header_row == 1
    assert layout.owned_columns == flat.owned_columns == {"status": 8, "reason": 9}
    assert [r.values for r in layout.rows] == [r.values for r in flat.rows]
    assert [r.ref.row for r in layout.rows] == [5, 6, 7, 8, 9, 10]
    assert layout.findings == []


def test_header_not_found_message():
    columns = dict(REPORT_COLUMNS, order_id="OrderID", amount="Total",
                   customer_id="CustID", currency="Curr")
    with pytest.raises(EngineError) as caught:
        read_sheet(DATA / "05_merged_header_offset" / "orders_report_layout.xlsx",
                   source("orders", "orders.xlsx", "Orders Q2", columns),
                   shown_as="orders.xlsx")
    assert str(caught.value) == (
        "orders.xlsx › 'Orders Q2': header not found in rows 1–11; looked for OrderID, "
        "Destination, CustID, Total; saw: Order, Customer, Sales, Destination, Amount, "
        "Credit check / ID, Name, Person, Net, Currency, Status, Reason. Rename the "
        "headers in the sheet or change 'columns:' in rules/workbooks.yaml.")


def test_missing_column_lists_headers():
    columns = dict(REPORT_COLUMNS, amount="Amount")
    with pytest.raises(EngineError) as caught:
        read_sheet(DATA / "05_merged_header_offset" / "orders_report_layout.xlsx",
                   source("orders", "orders.xlsx", "Orders Q2", columns,
                          where={"amount": "rules/workbooks.yaml:26:15"}),
                   shown_as="orders.xlsx")
    assert str(caught.value) == (
        "orders.xlsx › 'Orders Q2': column 'Amount' (amount) not found in header row 4; "
        "headers found: ID, Name, Person, Net, Currency, Status, Reason. Rename the "
        "column in the sheet or change 'amount:' at rules/workbooks.yaml:26:15.")


def test_explicit_header_row():
    read = read_sheet(DATA / "05_merged_header_offset" / "orders_report_layout.xlsx",
                      source("orders", "orders.xlsx", "Orders Q2", REPORT_COLUMNS,
                             header_row=4, data_starts=5))
    assert [r.values["order_id"] for r in read.rows] == [
        "ORD-1001", "ORD-1002", "ORD-1003", "ORD-1004", "ORD-1005", "ORD-1006"]
