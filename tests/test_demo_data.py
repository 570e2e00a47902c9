"""The committed demo workbooks: rebuilt identically, headers as mapped, rules kept."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
WORKBOOKS = ROOT / "workbooks"
SHEETS = {"orders": "Orders", "payments": "Payments", "customers": "Customers"}


def load_build_demo():
    if "build_demo" in sys.modules:
        return sys.modules["build_demo"]
    spec = importlib.util.spec_from_file_location(
        "build_demo", WORKBOOKS / "build_demo.py"
    )
    module = importlib.util.module_from_spec(spec)
    # The dataclasses in the script look their module up in sys.modules.
    sys.modules["build_demo"] = module
    spec.loader.exec_module(module)
    return module


def read_values(path: Path, sheet: str) -> list[list]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("demo")
    load_build_demo().build(out_dir)
    return out_dir


def owned_headers(kind: str) -> set[str]:
    source = YAML(typ="safe").load((ROOT / "rules" / "workbooks.yaml").read_text())[
        "sources"
    ][kind]
    return set(source.get("owned", {}).values())


def without_owned(rows: list[list], owned: set[str]) -> list[list]:
    """Drop the engine's own columns: `make run` fills them in the committed files."""
    keep = [index for index, name in enumerate(rows[0]) if name not in owned]
    return [[row[index] for index in keep] for row in rows]


@pytest.mark.parametrize("kind", SHEETS)
def test_committed_equals_rebuilt(rebuilt, kind):
    owned = owned_headers(kind)
    committed = without_owned(read_values(WORKBOOKS / f"{kind}.xlsx", SHEETS[kind]), owned)
    fresh = without_owned(read_values(rebuilt / f"{kind}.xlsx", SHEETS[kind]), owned)

    assert len(committed) == len(fresh)
    for number, (old, new) in enumerate(zip(committed, fresh, strict=True), start=1):
        assert old == new, f"{kind}.xlsx row {number}"


@pytest.mark.parametrize("kind", SHEETS)
def test_headers_match_workbook_map(kind):
    source = YAML(typ="safe").load((ROOT / "rules" / "workbooks.yaml").read_text())[
        "sources"
    ][kind]
    expected = list(source["columns"].values()) + list(source.get("owned", {}).values())

    header = read_values(WORKBOOKS / source["file"], source["sheet"])[0]

    assert header == expected


def test_orders_follow_stated_rules(rebuilt):
    rows = read_values(rebuilt / "orders.xlsx", "Orders")
    header, body = rows[0], rows[1:]
    col = {name: header.index(name) for name in header}
    as_of = load_build_demo().AS_OF

    new = [row for row in body if row[col["Invoice No"]] == ""]
    invoiced = [row for row in body if row[col["Invoice No"]] != ""]
    assert len(new) == 45
    assert all(row[col["Order Date"]] > as_of - dt.timedelta(days=10) for row in new)
    assert all(row[col["Status"]] == "" and row[col["Due Date"]] == "" for row in new)
    assert all(row[col["Order Date"]] <= as_of for row in body)
    for row in invoiced:
        number = row[col["Invoice No"]]
        assert isinstance(number, str) and len(number) == 10
        assert row[col["Order ID"]] == f"ORD-{number}"
        assert row[col["Due Date"]] - row[col["Invoice Date"]] == dt.timedelta(days=30)
    assert len({row[col["Order ID"]] for row in body}) == len(body)
    assert {row[col["Currency"]] for row in body} == {"USD", "EUR"}


def test_payments_reference_invoiced_orders(rebuilt):
    orders = read_values(rebuilt / "orders.xlsx", "Orders")
    invoiced = {row[6]: row for row in orders[1:] if row[6] != ""}
    rows = read_values(rebuilt / "payments.xlsx", "Payments")
    as_of = load_build_demo().AS_OF

    for payment_id, date, customer_id, reference, amount, currency, method in rows[1:]:
        order = invoiced[reference]
        assert payment_id == f"PAY-{reference}"
        assert order[2] == customer_id
        assert order[4] == amount
        assert order[5] == currency
        assert order[7] <= date <= as_of
        assert method in {"Bank transfer", "Cheque"}


def test_customers_follow_stated_rules(rebuilt):
    rows = read_values(rebuilt / "customers.xlsx", "Customers")
    header, body = rows[0], rows[1:]
    col = {name: header.index(name) for name in header}

    assert len(body) == 100
    assert {row[col["Rating"]] for row in body} == {"A", "B", "C", "D"}
    typed = {
        row[0]: row[col["Credit Limit"]] for row in body if row[col["Credit Limit"]]
    }
    assert typed == {"0187-ERLSR": 500, "0379-NEVHP": 120, "8156-PCYBM": 160}
    assert all(row[col["Email"]].startswith("ap@") for row in body)
    assert all(row[col["Email"]].endswith(".test") for row in body)
    assert len({row[col["Name"]] for row in body}) == 100
    assert any(not row[col["Name"]].isascii() for row in body)
    assert {row[col["Language"]] for row in body} == {"en", "de", "fr", "es", "pt"}
    for owned in ("Outstanding", "Exposure", "Checked On"):
        assert all(row[col[owned]] == "" for row in body)


def test_cells_are_dates_and_amounts():
    book = openpyxl.load_workbook(WORKBOOKS / "orders.xlsx", read_only=True)
    second = next(book["Orders"].iter_rows(min_row=2, max_row=2))

    assert isinstance(second[1].value, dt.datetime)
    assert second[1].number_format == "yyyy-mm-dd"
    assert second[4].number_format == "#,##0.00"
    assert second[6].data_type == "s"


def test_demo_shows_every_aging_bucket():
    build_demo = load_build_demo()
    data = build_demo.build_rows(build_demo.read_invoices(build_demo.SOURCE_CSV))

    lines = build_demo.summary_lines(data)

    assert lines[4] == (
        "open items      not_due 55, overdue_1_30 12, overdue_31_60 3, "
        "overdue_61_90 2, overdue_over_90 4"
    )
