"""Whole-file faults, sheet layouts and extents the reader must survive."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.table import Table

from engine.findings import EngineError
from engine.workbook_map import SourceMap
from engine.xlsx.read import read_sheet
from engine.xlsx.sheetscan import IncompleteWorkbook, WorkbookNotFound

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = {"order_id": "Order ID", "order_date": "Order Date",
           "customer_id": "Customer ID", "amount": "Amount"}
HEADER = ["Order ID", "Order Date", "Customer ID", "Amount"]


def orders_source(**settings) -> SourceMap:
    return SourceMap("orders", "orders.xlsx", "Orders", None, COLUMNS,
                     {"status": "Status", "reason": "Reason"}, **settings)


def build(path: Path, rows, *, title="Orders") -> Workbook:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)
    return book


def read_error(path: Path, exception=EngineError) -> str:
    with pytest.raises(exception) as caught:
        read_sheet(path, orders_source(), shown_as="orders.xlsx")
    return str(caught.value)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
         "orders.xlsx: this is an old .xls file or a password-protected workbook. Open "
         "it in Excel and save it as .xlsx without a password."),
        (b"Order ID;Amount\nO1;5\n",
         "orders.xlsx: this is a text (CSV) file saved with an .xlsx name. Open it in "
         "Excel and save it as .xlsx."),
        (b"<html><body><table><tr><td>1</td></tr></table></body></html>",
         "orders.xlsx: this is a web page or XML file saved with an .xlsx name. Open it "
         "in Excel and save it as .xlsx."),
        (bytes(range(1, 200)) * 4,
         "orders.xlsx: this is not an Excel workbook. Save the data as .xlsx in Excel."),
    ],
)
def test_not_a_workbook(tmp_path, content, message):
    path = tmp_path / "orders.xlsx"
    path.write_bytes(content)
    assert read_error(path) == message


def test_xlsb_and_other_zip(tmp_path):
    path = tmp_path / "orders.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.bin", b"\0")
    assert read_error(path) == ("orders.xlsx: this is an Excel binary workbook (.xlsb). "
                                "Open it in Excel and save it as .xlsx.")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", b"<w/>")
    assert read_error(path).startswith("orders.xlsx: this zip file is not an Excel")


def test_empty_and_truncated(tmp_path):
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"")
    assert read_error(path, IncompleteWorkbook) == (
        "orders.xlsx: the file is empty (0 bytes). Wait for the save to finish.")
    build(path, [HEADER, ["O1", "2024-01-02", "C1", 5]])
    path.write_bytes(path.read_bytes()[:-300])
    assert read_error(path, IncompleteWorkbook).startswith(
        "orders.xlsx: the file is not a complete zip package")


def test_missing_file_and_sheet(tmp_path):
    assert read_error(tmp_path / "orders.xlsx", WorkbookNotFound).startswith(
        "orders.xlsx: file not found in ")
    build(tmp_path / "orders.xlsx", [HEADER], title="Orders Q2")
    assert read_error(tmp_path / "orders.xlsx") == (
        "orders.xlsx: sheet Orders not found; sheets: 'Orders Q2'. Did you mean 'Orders "
        "Q2'? Fix 'sheet:' in rules/workbooks.yaml or rename the sheet.")


def test_inflated_used_range(tmp_path):
    """One formatted cell at row 1,048,576 must not cost a million rows."""
    path = tmp_path / "orders.xlsx"
    book = build(path, [HEADER, ["O1", "2024-01-02", "C1", 5]])
    book.active.cell(1_048_576, 1).font = Font(bold=True)
    book.save(path)
    read = read_sheet(path, orders_source())
    assert [row.ref.row for row in read.rows] == [2]
    assert [f.code for f in read.findings] == ["owned-column-added"]
    assert read.new_headers == {5: "Status", 6: "Reason"}


def test_far_apart_cells_rejected(tmp_path):
    """A1 plus XFD1048576 aborts calamine; the check must reject the sheet first."""
    path = tmp_path / "orders.xlsx"
    book = build(path, [HEADER])
    book.active["XFD1048576"] = 1
    book.save(path)
    script = (
        "import sys\nfrom pathlib import Path\nfrom engine.findings import EngineError\n"
        "from engine.workbook_map import SourceMap\nfrom engine.xlsx.read import read_sheet\n"
        f"source = SourceMap('orders', 'orders.xlsx', 'Orders', None, {COLUMNS!r}, {{}})\n"
        "try:\n    read_sheet(Path(sys.argv[1]), source)\n"
        "except EngineError as exc:\n    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == (
        "orders.xlsx › Orders: the cells with values span 1,048,576 rows by 16,384 "
        "columns, too large to read safely. Delete the stray values far below or right "
        "of the table and save.")


def test_title_and_totals_rows(tmp_path):
    path = tmp_path / "orders.xlsx"
    build(path, [["Orders 2024"], [], HEADER, ["O1", "2024-01-02", "C1", 5], [],
                 ["O2", "2024-01-03", "C1", 7], ["Summe", None, None, 12],
                 [None, None, None, 12]])
    read = read_sheet(path, orders_source())
    assert read.header_row == 3
    assert [row.values["order_id"] for row in read.rows] == ["O1", "O2"]


def test_table_totals_and_rows_below(tmp_path):
    path = tmp_path / "orders.xlsx"
    book = build(path, [HEADER, ["O1", "2024-01-02", "C1", 5],
                        ["All orders", None, None, "=SUBTOTAL(109,D2:D2)"],
                        ["O9", "2024-01-05", "C1", 3]])
    book.active.add_table(Table(displayName="OrderTable", ref="A1:D3",
                                totalsRowCount=1))
    book.save(path)
    evaluated = read_sheet(path, orders_source())
    assert [row.values["order_id"] for row in evaluated.rows] == ["O1", "O9"]
    reported = read_sheet(path, orders_source(rows_below_table="report"),
                          shown_as="orders.xlsx")
    assert [row.values["order_id"] for row in reported.rows] == ["O1"]
    assert [str(f) for f in reported.findings if f.code != "owned-column-added"] == [
        "orders.xlsx › Orders › row 4: row is below the Excel table 'OrderTable' (which "
        "ends at row 3) and was not read. Extend the table over this row, or move the "
        "row into it."]


def test_owned_columns_found_and_added(tmp_path):
    path = tmp_path / "orders.xlsx"
    build(path, [HEADER + ["Note", "status"], ["O1", "2024-01-02", "C1", 5, "x", "OK"]])
    read = read_sheet(path, orders_source())
    assert read.owned_columns == {"status": 6, "reason": 7}
    assert read.new_headers == {7: "Reason"}
    assert read.rows[0].owned == {"status": "OK", "reason": None}


def test_stamp_matches_bytes(tmp_path):
    path = tmp_path / "orders.xlsx"
    build(path, [HEADER, ["O1", "2024-01-02", "C1", 5]])
    assert read_sheet(path, orders_source()).stamp.matches(path)


@pytest.mark.skipif(not (ROOT / "workbooks" / "orders.xlsx").exists(),
                    reason="demo workbooks not built")
def test_demo_workbooks_read():
    from engine.inputs import read_inputs
    from engine.workbook_map import load_workbook_map

    workbook_map = load_workbook_map(ROOT / "rules" / "workbooks.yaml", ROOT)
    inputs, reads, findings = read_inputs(workbook_map)
    assert findings == []
    assert inputs.held == []
    assert len(inputs.orders) > 100
    assert len(inputs.customers) > 10
    assert set(reads) == {"orders", "payments", "customers"}
