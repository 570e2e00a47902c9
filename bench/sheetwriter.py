"""A streaming .xlsx writer for one-sheet benchmark workbooks.

The sheet XML is written row by row straight into a deflated zip member, and text
goes to a shared strings table the way Excel writes it: each distinct string once in
xl/sharedStrings.xml, cells holding its index (`t="s"`). Only what the benchmark
needs is supported: text, numbers, dates (serials in the 1900 date system) and
amounts, with a bold frozen header row.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

from engine.model import column_letter

# Style indexes into cellXfs below.
TEXT, DATE, AMOUNT, HEADER = 0, 1, 2, 3
EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 is 1900-01-01 after Excel's leap bug

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>\
</Types>"""

ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>\
</Relationships>"""

WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">\
<workbookPr defaultThemeVersion="166925"/><bookViews><workbookView/></bookViews>\
<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets><calcPr calcId="191029"/>\
</workbook>"""

WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>\
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>\
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>\
</Relationships>"""

STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>\
<fills count="2"><fill><patternFill patternType="none"/></fill>\
<fill><patternFill patternType="gray125"/></fill></fills>\
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>\
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>\
</styleSheet>"""

SHEET_HEAD = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">\
<dimension ref="A1:{last}"/><sheetViews><sheetView tabSelected="1" workbookViewId="0">\
<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>\
</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols>\
<sheetData>"""

SHEET_TAIL = (
    '</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" '
    'header="0.3" footer="0.3"/></worksheet>'
)

Cell = str | int | Decimal | dt.date | None
BATCH_ROWS = 2000


class SharedStrings:
    """Excel's shared strings table: each distinct text once, in first-use order."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.count = 0  # cells that refer to the table, as Excel's `count`

    def add(self, text: str) -> int:
        self.count += 1
        position = self.index.get(text)
        if position is None:
            position = self.index[text] = len(self.index)
        return position

    def xml_chunks(self) -> Iterable[str]:
        yield (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http:'
            '//schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'count="{self.count}" uniqueCount="{len(self.index)}">'
        )
        batch = []
        for text in self.index:
            space = ' xml:space="preserve"' if text != text.strip() else ""
            batch.append(f"<si><t{space}>{escape(text)}</t></si>")
            if len(batch) >= 10_000:
                yield "".join(batch)
                batch.clear()
        yield "".join(batch) + "</sst>"


def write_workbook(
    path: Path,
    sheet: str,
    headers: Sequence[str],
    styles: Sequence[int],
    rows: Iterable[Sequence[Cell]],
    row_count: int,
    *,
    compresslevel: int = 6,
) -> None:
    """Write a one-sheet workbook: `headers` in row 1, then `rows` from row 2.

    `styles` gives each column's style (TEXT, DATE or AMOUNT); `row_count` is the
    number of data rows, needed up front for the sheet's dimension element.
    """
    letters = [column_letter(n) for n in range(1, len(headers) + 1)]
    strings = SharedStrings()
    last = f"{letters[-1]}{row_count + 1}"
    cols = "".join(
        f'<col min="{n}" max="{n}" width="{max(12, len(h) + 4)}" customWidth="1"/>'
        for n, h in enumerate(headers, start=1)
    )
    tmp = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(
        tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel
    ) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK.format(name=escape(sheet)))
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", STYLES)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            member.write(SHEET_HEAD.format(last=last, cols=cols).encode())
            header_cells = "".join(
                f'<c r="{letter}1" s="{HEADER}" t="s"><v>{strings.add(text)}</v></c>'
                for letter, text in zip(letters, headers)
            )
            member.write(f'<row r="1">{header_cells}</row>'.encode())
            for chunk in _row_chunks(rows, letters, styles, strings):
                member.write(chunk)
            member.write(SHEET_TAIL.encode())
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as member:
            for chunk in strings.xml_chunks():
                member.write(chunk.encode())
    tmp.replace(path)


def _row_chunks(rows, letters, styles, strings: SharedStrings) -> Iterable[bytes]:
    batch: list[str] = []
    number = 1
    for values in rows:
        number += 1
        cells = []
        for letter, style, value in zip(letters, styles, values):
            if value is None or value == "":
                continue
            cells.append(_cell(f"{letter}{number}", style, value, strings))
        batch.append(f'<row r="{number}">{"".join(cells)}</row>')
        if len(batch) >= BATCH_ROWS:
            yield "".join(batch).encode()
            batch.clear()
    if batch:
        yield "".join(batch).encode()


def _cell(ref: str, style: int, value: Cell, strings: SharedStrings) -> str:
    if isinstance(value, str):
        return f'<c r="{ref}" t="s"><v>{strings.add(value)}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="{DATE}"><v>{(value - EXCEL_EPOCH).days}</v></c>'
    if style == AMOUNT:
        return f'<c r="{ref}" s="{AMOUNT}"><v>{value}</v></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'
