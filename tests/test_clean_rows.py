"""The clean-row typers build the records the build functions build, or none at all."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from engine.clean_rows import order_typer, payment_typer
from engine.inputs import FLOAT_AMOUNTS, RowValues, build_order, build_payment
from engine.workbook_map import load_workbook_map
from engine.xlsx.read import SheetRow, read_sheet

ROOT = Path(__file__).resolve().parent.parent
CURRENCIES = {"C000001": "EUR"}


def sheet_read(folder: Path, kind: str = "orders"):
    wmap = load_workbook_map(ROOT / "rules" / "workbooks.yaml", ROOT)
    wmap = dataclasses.replace(wmap, folder=folder).for_date(dt.date(2013, 6, 3))
    source = wmap.sources[kind]
    return read_sheet(wmap.source_path(kind), source)


def compare_rows(read, rows: list[SheetRow]) -> int:
    """Assert the order typer agrees with build_order; return how many rows it typed."""
    typer = order_typer(read, CURRENCIES, "USD")
    typed = 0
    for row in rows:
        # build_order first: it caches the row's amount, as in a pass.
        expected = build_order(RowValues(read, row), CURRENCIES, "USD")
        record = typer(row)
        if record is not None:
            typed += 1
            assert record == expected, f"row {row.ref.row}"
    return typed


def test_bench_orders_typed_alike(tmp_path):
    from bench.generate import generate

    read = sheet_read(generate(tmp_path, 400).folder)
    typed = compare_rows(read, read.rows)
    assert typed > 300


def test_demo_orders_typed_alike():
    read = sheet_read(ROOT / "workbooks")
    compare_rows(read, read.rows)


def test_rows_needing_parsing_left_to_build_order(tmp_path):
    from bench.generate import generate

    read = sheet_read(generate(tmp_path, 20).folder)
    typer = order_typer(read, CURRENCIES, "USD")
    row = read.rows[0]
    build_order(RowValues(read, row), CURRENCIES, "USD")  # caches the amount
    assert typer(row) is not None
    changes = {
        "order_id": "SO  1", "customer_id": " C1", "amount": "12.50",
        "order_date": dt.datetime(2013, 5, 1, 10), "due_date": 41000.0,
        "invoice_date": dt.date(1990, 1, 1), "override_approver": "Ann",
        "override_amount": 5.0, "currency": "usd\t",
    }
    for name, value in changes.items():
        values = {**row.values, name.strip(): value}
        changed = SheetRow(row.ref, values, row.owned)
        assert typer(changed) is None, name
    for name in ("order_id", "customer_id", "order_date", "amount"):
        values = {**row.values, name: None}
        assert typer(SheetRow(row.ref, values, row.owned)) is None, name
    assert FLOAT_AMOUNTS


def test_bench_payments_typed_alike(tmp_path):
    from bench.generate import generate

    folder = generate(tmp_path, 400).folder
    orders = sheet_read(folder)
    invoice_ids = {}
    for row in orders.rows:
        order = build_order(RowValues(orders, row), CURRENCIES, "USD")
        if order is not None and order.invoice_id:
            invoice_ids[order.invoice_id] = order.invoice_id
    read = sheet_read(folder, "payments")
    typer = payment_typer(read, CURRENCIES, "USD", invoice_ids)
    typed = 0
    for row in read.rows:
        expected = build_payment(RowValues(read, row), CURRENCIES, "USD", invoice_ids)
        record = typer(row)
        if record is not None:
            typed += 1
            assert record == expected, f"row {row.ref.row}"
            assert record.reference is None or record.reference is invoice_ids.get(
                record.reference, record.reference)
    assert typed > 300
    row = read.rows[0]
    for name, value in (("customer_id", None), ("payment_date", None),
                        ("amount", "1,5"), ("reference", "INV  1")):
        changed = SheetRow(row.ref, {**row.values, name: value}, row.owned)
        assert typer(changed) is None, name
