"""The streaming sheet reader gives the values python-calamine gives, on every layout.

Each test compares the stream with calamine on the same file: hand-written sheet XML
for the odd layouts, the demo and generated bench workbooks, and the test corpus.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from unittest import mock

import pytest
from python_calamine import CalamineWorkbook

from engine.findings import EngineError
from engine.workbook_map import load_workbook_map
from engine.xlsx import read as read_module
from engine.xlsx.read import read_sheet
from engine.xlsx.sheetscan import open_package
from engine.xlsx.stream import SheetStream, StreamDeclined, format_kind, rich_text

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"

STRINGS = [
    "<si><t>Order ID</t></si>",
    ('<si><r><t>Ri</t></r><r><rPr><b/></rPr><t xml:space="preserve">ch </t></r>'
     '<rPh sb="0" eb="1"><t>PH</t></rPh></si>'),
    "<si><t>a_x000D_b_x0041_ _x005F_x0041_</t></si>",
    "<si><t>x &amp; y &lt;z&gt;</t></si>",
    "<si/>",
    "<si><t>Total</t></si>",
]
FORMATS = (
    '<numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>'
    '<numFmt numFmtId="165" formatCode="&quot;day&quot; 0"/>'
    '<numFmt numFmtId="166" formatCode="[h]:mm"/>'
    '<numFmt numFmtId="167" formatCode="[Red]#,##0.00"/>'
    '<numFmt numFmtId="168" formatCode="h:mm AM/PM"/>'
)
STYLES = [0, 14, 22, 164, 165, 21, 46, 166, 4, 167, 168]
ROWS = (
    '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
    '<c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c>'
    '<c r="E1" t="s"><v>4</v></c></row>'
    '<row r="2"><c r="A2"><v>5</v></c><c r="B2"><v>5.5</v></c>'
    '<c r="C2" s="1"><v>45000</v></c><c r="D2" s="1"><v>45000.5</v></c>'
    '<c r="E2" s="2"><v>45000.25</v></c><c r="F2" s="3"><v>45000</v></c>'
    '<c r="G2" s="4"><v>45000</v></c></row>'
    '<row r="3"><c r="A3" s="5"><v>0.5</v></c><c r="B3" s="6"><v>1.5</v></c>'
    '<c r="C3" s="7"><v>1.5</v></c><c r="D3" s="1"><v>60</v></c>'
    '<c r="E3" s="1"><v>0</v></c><c r="F3" s="1"><v>1</v></c>'
    '<c r="G3" s="10"><v>0.75</v></c></row>'
    '<row r="4"><c r="A4" t="b"><v>1</v></c><c r="B4" t="e"><v>#N/A</v></c>'
    '<c r="C4" t="str"><f>A1</f><v>fs</v></c><c r="D4"><f>1+1</f></c>'
    '<c r="E4" t="inlineStr"><is><t>inl_x0041_</t></is></c>'
    '<c r="F4" t="d"><v>2024-01-02T00:00:00</v></c>'
    '<c r="G4" t="d"><v>2024-01-02T10:30:00</v></c></row>'
    '<row r="5"><c r="A5" s="8"><v>1234.5</v></c><c r="B5" s="9"><v>3</v></c>'
    '<c r="C5" t="n"><v>1E3</v></c><c r="D5" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
    '<c r="E5" t="s"><v>5</v></c><c r="H5" s="1"/></row>'
    '<row r="7"><c r="B7" t="str"><v>x&amp;y</v></c><c r="D7"><v>1e20</v></c>'
    '<c r="F7"><v>-0</v></c><c r="G7" s="1"><v>2958466</v></c>'
    '<c r="C7" t="s" s="1"><v>3</v></c></row>'
    '<row r="9"><c r="A9" s="1"><v>45000</v></c><c r="C9" cm="1" s="2" t="n">'
    "<v>45000.5</v></c></row>"
)


def write_book(path: Path, rows: str = ROWS, *, date1904: bool = False,
               prefix: str = "", extra: str = "", strings=STRINGS) -> Path:
    """Write a one-sheet workbook named S around hand-written sheet XML."""
    tag = f"{prefix}:" if prefix else ""
    xmlns = f"xmlns:{prefix}" if prefix else "xmlns"
    props = '<workbookPr date1904="1"/>' if date1904 else ""
    xfs = "".join(f'<xf numFmtId="{number}"/>' for number in STYLES)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", (
            f'<?xml version="1.0"?><Types xmlns="{TYPES}">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-'
            'package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
            f'"{SHEET_TYPE}.sheet.main+xml"/></Types>'))
        book.writestr("_rels/.rels", (
            f'<?xml version="1.0"?><Relationships xmlns="{RELS}"><Relationship '
            f'Id="rId1" Type="{DOC}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"))
        book.writestr("xl/workbook.xml", (
            f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{DOC}">{props}'
            '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'))
        book.writestr("xl/_rels/workbook.xml.rels", (
            f'<?xml version="1.0"?><Relationships xmlns="{RELS}">'
            f'<Relationship Id="rId1" Type="{DOC}/worksheet" '
            'Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{DOC}/sharedStrings" '
            'Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId3" Type="{DOC}/styles" Target="styles.xml"/>'
            "</Relationships>"))
        book.writestr("xl/sharedStrings.xml",
                      f'<?xml version="1.0"?><sst xmlns="{MAIN}">{"".join(strings)}</sst>')
        book.writestr("xl/styles.xml", (
            f'<?xml version="1.0"?><styleSheet xmlns="{MAIN}"><numFmts>{FORMATS}'
            f"</numFmts><cellXfs>{xfs}</cellXfs></styleSheet>"))
        book.writestr("xl/worksheets/sheet1.xml", (
            f'<?xml version="1.0"?><{tag}worksheet {xmlns}="{MAIN}" xmlns:x14ac='
            '"http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac">'
            f"<{tag}sheetData>{rows}</{tag}sheetData>{extra}</{tag}worksheet>"))
    return path


def stream_of(path: Path, sheet: str) -> SheetStream:
    package = open_package(path.read_bytes(), path.name)
    return SheetStream(package, package.sheets[sheet][0], path.name, sheet)


def trimmed(grid) -> list[list]:
    rows = [list(row) for row in grid]
    for row in rows:
        while row and row[-1] == "":
            row.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def assert_same_grid(path: Path, sheet: str) -> None:
    expected = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet)
    try:
        stream = stream_of(path, sheet)
    except StreamDeclined:
        assert not trimmed(expected.to_python(skip_empty_area=False))
        return
    got = trimmed(stream.read_head(10**7))
    want = trimmed(expected.to_python(skip_empty_area=False))
    assert len(got) == len(want), f"{path.name} › {sheet}: row count"
    for number, (mine, theirs) in enumerate(zip(got, want, strict=True), start=1):
        assert [(type(v), v) for v in mine] == [(type(v), v) for v in theirs], (
            f"{path.name} › {sheet} › row {number}")
    assert sorted(stream.merges) == sorted(expected.merged_cell_ranges or [])


@pytest.mark.parametrize("date1904", [False, True])
def test_cell_types_match_calamine(tmp_path, date1904):
    assert_same_grid(write_book(tmp_path / "s.xlsx", date1904=date1904), "S")


def test_known_values(tmp_path):
    grid = stream_of(write_book(tmp_path / "s.xlsx"), "S").read_head(100)
    assert grid[0][:5] == ["Order ID", "Rich ", "a\rbA _x0041_", "x & y <z>", ""]
    assert grid[1][2:4] == [dt.date(2023, 3, 15), dt.datetime(2023, 3, 15, 12)]
    assert grid[2][:3] == [dt.time(12), dt.timedelta(days=1, hours=12)] * 1 + [
        dt.timedelta(days=1, hours=12)]
    assert grid[3][:5] == [True, "", "fs", "", "inlA"]


def test_cells_without_r_and_prefixed_tags(tmp_path):
    rows = ('<x:row r="2" x14ac:dyDescent="0.25"><x:c t="s"><x:v>0</x:v></x:c>'
            '<x:c r="C2"><x:v>7</x:v></x:c><x:c s="1"><x:v>45000</x:v></x:c></x:row>'
            '<x:row><x:c t="inlineStr"><x:is><x:r><x:t>in</x:t></x:r><x:r><x:t>line'
            "</x:t></x:r></x:is></x:c></x:row>")
    path = write_book(tmp_path / "p.xlsx", rows, prefix="x")
    assert_same_grid(path, "S")
    assert stream_of(path, "S").read_head(5)[1][:4] == ["Order ID", "", 7.0,
                                                        dt.date(2023, 3, 15)]


def test_cells_without_r_in_default_namespace(tmp_path):
    rows = ('<row r="3"><c><v>1</v></c><c t="e"><v>#N/A</v></c><c><f>A3+1</f></c>'
            '<c t="s"><v>3</v></c></row><row><c/><c><v>60</v></c></row>')
    assert_same_grid(write_book(tmp_path / "r.xlsx", rows), "S")


def test_whitespace_after_cell_tag_name_kept(tmp_path):
    # Valid XML that Excel does not write: a line break or tab right after "<c".
    rows = ('<row r="2"><c\n r="A2"><v>120</v></c><c\tr="B2" t="s"><v>0</v></c>'
            '<c r="C2"><v>7</v></c></row>')
    path = write_book(tmp_path / "w.xlsx", rows)
    assert_same_grid(path, "S")
    assert stream_of(path, "S").read_head(5)[1][:3] == [120.0, "Order ID", 7.0]


def test_merges_read_from_after_the_cells(tmp_path):
    extra = '<mergeCells count="2"><mergeCell ref="A1:B1"/><mergeCell ref="C2:C3"/>' \
            "</mergeCells>"
    path = write_book(tmp_path / "m.xlsx", extra=extra)
    assert_same_grid(path, "S")
    assert stream_of(path, "S").merges == [((0, 0), (0, 1)), ((1, 2), (2, 2))]


def test_rows_across_blocks(tmp_path, monkeypatch):
    """Rows split across the inflated blocks are put back together."""
    monkeypatch.setattr("engine.xlsx.stream.CHUNK_BYTES", 7)
    assert_same_grid(write_book(tmp_path / "s.xlsx"), "S")


def test_missing_shared_string_is_an_engine_error(tmp_path):
    path = write_book(tmp_path / "bad.xlsx", '<row r="1"><c r="A1" t="s"><v>99</v></c></row>')
    with pytest.raises(EngineError, match="shared string 99"):
        stream_of(path, "S").read_head(5)


def test_document_type_declined(tmp_path):
    path = write_book(tmp_path / "d.xlsx", strings=['<!DOCTYPE x [<!ENTITY e "v">]>'])
    with pytest.raises(StreamDeclined):
        stream_of(path, "S")


@pytest.mark.parametrize(("code", "kind"), [
    ("dd/mm/yyyy", 1), ("[h]:mm:ss", 2), ('"day" 0', 0), ("[Red]#,##0.00", 0),
    ("#,##0.00;[Red]-#,##0.00", 0), ("h:mm AM/PM", 1), ("General", 0),
    ('_-* #,##0.00 [$€-407]_-', 0), ("mmm-yy", 1),
])
def test_format_kinds(code, kind):
    assert format_kind(code) == kind


def test_rich_text_leaves_out_phonetic_runs():
    assert rich_text('<r><t>A</t></r><rPh sb="0" eb="1"><t>x</t></rPh><r><t>B</t></r>') \
        == "AB"


def corpus_sheets():
    for path in sorted((DATA / "corpus").glob("*.xls[xm]")):
        for name in CalamineWorkbook.from_path(str(path)).sheet_names:
            yield pytest.param(path, name, id=f"{path.name}-{name}")


@pytest.mark.parametrize(("path", "sheet"), list(corpus_sheets()))
def test_corpus_matches_calamine(path, sheet):
    package = open_package(path.read_bytes(), path.name)
    if sheet not in package.sheets or not package.sheets[sheet][0].endswith(".xml"):
        pytest.skip("not a worksheet part")
    try:
        CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    except Exception:  # noqa: BLE001 - chart sheets and the like
        pytest.skip("calamine does not read this sheet")
    assert_same_grid(path, sheet)


def test_case_workbooks_match_calamine():
    for path in sorted((DATA / "cases_read").rglob("*.xlsx")):
        package = open_package(path.read_bytes(), path.name)
        for sheet in package.sheets:
            assert_same_grid(path, sheet)


def reads_both_ways(folder: Path, wmap) -> None:
    """read_sheet through the stream equals read_sheet through calamine."""

    def decline(*args, **kwargs):
        raise StreamDeclined("compared with calamine")

    for source in wmap.sources.values():
        streamed = read_sheet(folder / source.file, source)
        with mock.patch.object(read_module, "SheetStream", decline):
            whole = read_sheet(folder / source.file, source)
        assert [(r.ref, dict(r.values), dict(r.owned), r.held) for r in streamed.rows] \
            == [(r.ref, dict(r.values), dict(r.owned), r.held) for r in whole.rows]
        assert streamed.findings == whole.findings
        assert (streamed.header_row, streamed.columns, streamed.owned_columns,
                streamed.new_headers) == (whole.header_row, whole.columns,
                                          whole.owned_columns, whole.new_headers)


def test_demo_workbooks_read_alike():
    wmap = load_workbook_map(ROOT / "rules" / "workbooks.yaml", ROOT)
    reads_both_ways(ROOT / "workbooks", wmap)


def test_bench_workbooks_read_alike(tmp_path):
    from bench.generate import generate

    files = generate(tmp_path, 300)
    wmap = load_workbook_map(ROOT / "rules" / "workbooks.yaml", ROOT)
    reads_both_ways(files.folder, wmap)


@pytest.mark.parametrize("last", [3, 30])
def test_head_ends_at_last_value_row(tmp_path, last):
    """Rows of empty styled cells below the values do not lengthen the header search."""
    rows = ('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
            f'<row r="{last}"><c r="A{last}" t="s"><v>3</v></c></row>'
            + "".join(f'<row r="{n}"><c r="A{n}" s="1"/></row>' for n in range(40, 60)))
    path = write_book(tmp_path / "h.xlsx", rows)
    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("S").to_python(
        skip_empty_area=False)
    head = stream_of(path, "S").read_head(20)
    assert len(head) == min(20, len(grid))
    assert trimmed(head) == trimmed(grid[:20])
