"""The sheet XML scan: formula, error and serial-60 cells in hand-written sheet XML."""

from __future__ import annotations

from engine.xlsx.sheetscan import (
    FormulaCell,
    last_value_row,
    needs_tree_scan,
    scan_cells_tree,
    scan_formulas,
    scan_serial_sixty,
)

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def sheet(rows: str, prefix: str = "") -> bytes:
    p = f"{prefix}:" if prefix else ""
    xmlns = f"xmlns:{prefix}" if prefix else "xmlns"
    return (
        f'<?xml version="1.0"?><{p}worksheet {xmlns}="{MAIN}"><{p}sheetData>'
        f"{rows}</{p}sheetData></{p}worksheet>"
    ).encode()


def test_excel_layout_uses_fast_scan():
    xml = sheet(
        '<row r="2"><c r="A2"><f>B2*2</f><v>4</v></c><c r="B2"><v>60</v></c></row>'
    )

    assert not needs_tree_scan(xml)
    assert scan_formulas(xml) == {(2, 1): FormulaCell("B2*2", "4", False)}
    assert scan_serial_sixty(xml) == {(2, 2)}


def test_cells_without_r_located():
    xml = sheet(
        '<row r="3"><c><v>1</v></c><c t="e"><v>#N/A</v></c>'
        "<c><f>A3+1</f></c></row><row><c/><c><v>60</v></c></row>"
    )

    formulas, sixty = scan_cells_tree(xml, "orders.xlsx", "Orders")

    assert needs_tree_scan(xml)
    assert formulas == {
        (3, 2): FormulaCell("", "#N/A", True),
        (3, 3): FormulaCell("A3+1", None, False),
    }
    assert sixty == {(4, 2)}


def test_prefixed_namespace_located():
    xml = sheet(
        '<x:row r="5"><x:c r="G5"><x:f>E5*F5</x:f></x:c>'
        '<x:c r="H5" t="s"><x:v>60</x:v></x:c></x:row>',
        prefix="x",
    )

    formulas, sixty = scan_cells_tree(xml, "orders.xlsx", "Orders")

    assert needs_tree_scan(xml)
    assert formulas == {(5, 7): FormulaCell("E5*F5", None, False)}
    assert sixty == set()


def test_last_value_row_cases():
    assert last_value_row(sheet('<row r="5"><c r="B5"><v>1</v></c></row>'
                                '<row r="9"><c r="C9" t="inlineStr"><is><t>x</t></is>'
                                "</c></row>")) == 9
    assert last_value_row(sheet('<row r="3"><c r="A3"/></row>')) == 0


def test_last_value_row_past_cells_without_r():
    # 60,000 cells without `r` after the last one with it: each tag is searched
    # backwards once, not again from the end for every cell.
    rows = "".join(f'<row><c t="s"><v>{n}</v></c></row>' for n in range(60_000))
    xml = sheet('<row r="1"><c r="A1"><v>1</v></c></row>' + rows)
    assert last_value_row(xml) == 1
