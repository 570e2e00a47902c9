"""The workbook map: the shipped file loads, and each fault names its line and column."""

from pathlib import Path

import pytest

from engine.findings import EngineError
from engine.workbook_map import check_workbook_map, load_workbook_map

ROOT = Path(__file__).resolve().parents[1]

VALID = """\
version: 1
folder: workbooks
report: report/r.xlsx
outbox: outbox
state: state/s.sqlite
locale: de_DE
date_order: DMY
date_formats: [DD.MM.YYYY]
polling: true
sources:
  orders:
    file: orders.xlsx
    sheet: Orders
    header_row: 4
    data_starts: 5
    rows_below_table: report
    columns:
      order_id: Order ID
      order_date: Order Date
      customer_id: Customer ID
      amount: Amount/Net
    owned:
      status: Status
  payments:
    file: payments.xlsx
    sheet: Payments
    locale: en_US
    columns:
      payment_date: Date
      customer_id: Customer
      amount: Amount
  customers:
    file: customers.xlsx
    sheet: Customers
    columns:
      customer_id: Customer ID
      name: Name
"""


def write_map(tmp_path: Path, text: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    path = rules / "workbooks.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def faults(tmp_path: Path, text: str) -> list[str]:
    return [str(f) for f in check_workbook_map(write_map(tmp_path, text), tmp_path)]


def test_shipped_map_loads():
    workbook_map = load_workbook_map(ROOT / "rules" / "workbooks.yaml", ROOT)
    assert workbook_map.folder == ROOT / "workbooks"
    assert workbook_map.sources["orders"].columns["amount"] == "Amount"
    assert workbook_map.sources["orders"].owned == {"status": "Status", "reason": "Reason"}
    lines = (ROOT / "rules" / "workbooks.yaml").read_text().splitlines()
    line = lines.index("      amount: Amount") + 1
    assert workbook_map.sources["orders"].where["amount"] == f"rules/workbooks.yaml:{line}:15"


def test_extended_keys(tmp_path):
    workbook_map = load_workbook_map(write_map(tmp_path, VALID), tmp_path)
    orders = workbook_map.sources["orders"]
    assert orders.header_row == 4
    assert orders.data_starts == 5
    assert orders.rows_below_table == "report"
    assert orders.locale == "de_DE"
    assert orders.date_order == "DMY"
    assert orders.date_formats == ("DD.MM.YYYY",)
    assert workbook_map.sources["payments"].locale == "en_US"
    assert workbook_map.polling is True
    assert workbook_map.sources["customers"].header_row is None


def test_unknown_field_suggests(tmp_path):
    text = VALID.replace("      amount: Amount/Net", "      ammount: Amount/Net")
    assert faults(tmp_path, text) == [
        "rules/workbooks.yaml:21:7: unknown orders field 'ammount'. "
        "Did you mean 'amount'?",
        "rules/workbooks.yaml:18:7: orders needs the field 'amount'. "
        "Add 'amount: <header in the sheet>' under columns.",
    ]


def test_missing_required_field(tmp_path):
    text = VALID.replace("      name: Name\n", "      email: Email\n")
    assert faults(tmp_path, text) == [
        "rules/workbooks.yaml:36:7: customers needs the field 'name'. "
        "Add 'name: <header in the sheet>' under columns.",
    ]


def test_wrong_types(tmp_path):
    text = VALID.replace("header_row: 4", "header_row: four").replace(
        "polling: true", "polling: sometimes")
    assert faults(tmp_path, text) == [
        "rules/workbooks.yaml:9:10: 'polling' must be true or false, found 'sometimes'.",
        "rules/workbooks.yaml:14:17: 'header_row' must be 'auto' or a row number, "
        "found 'four'.",
    ]


def test_missing_version(tmp_path):
    assert faults(tmp_path, VALID.replace("version: 1\n", "")) == [
        "rules/workbooks.yaml:1:1: missing 'version'. Add 'version: 1' as the first line.",
    ]


def test_unknown_version(tmp_path):
    assert faults(tmp_path, VALID.replace("version: 1", "version: 7")) == [
        "rules/workbooks.yaml:1:10: unknown version 7; this engine reads version 1. "
        "Set 'version: 1'.",
    ]


def test_unknown_setting_and_locale(tmp_path):
    text = VALID.replace("locale: de_DE", "locale: xx_YY").replace(
        "    rows_below_table: report", "    rows_below_tabel: report")
    assert faults(tmp_path, text) == [
        "rules/workbooks.yaml:6:9: unknown locale 'xx_YY'. "
        "Use a code such as en_US, de_DE or fr_FR.",
        "rules/workbooks.yaml:16:5: unknown orders setting 'rows_below_tabel'. "
        "Did you mean 'rows_below_table'?",
    ]


def test_load_raises_all_faults(tmp_path):
    text = VALID.replace("version: 1\n", "").replace("date_order: DMY", "date_order: DM")
    with pytest.raises(EngineError) as caught:
        load_workbook_map(write_map(tmp_path, text), tmp_path)
    assert [f.where for f in caught.value.findings] == [
        "rules/workbooks.yaml:1:1",
        "rules/workbooks.yaml:6:13",
    ]
