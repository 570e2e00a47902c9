"""Build small .xlsx packages part by part, so tests control every byte of the sheet."""

from __future__ import annotations

import zipfile
from pathlib import Path

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"

# cellXfs: 0 General, 1 date (numFmtId 14), 2 General with bold font.
STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{MAIN}"><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>
</styleSheet>"""


def build_workbook(
    path: Path,
    sheet_xml: str,
    *,
    sheet_name: str = "Orders",
    date1904: bool = False,
    shared_strings: list[str] | None = None,
    table_xml: str | None = None,
    sheet_target: str = "worksheets/sheet1.xml",
) -> Path:
    """Write a one-sheet workbook whose sheet part is exactly `sheet_xml`."""
    overrides = [
        ("/xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
        ("/xl/worksheets/sheet1.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"),
        ("/xl/styles.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"),
    ]
    workbook_rels = [
        ("rId1", "worksheet", sheet_target),
        ("rId2", "styles", "styles.xml"),
    ]
    parts: dict[str, str] = {}
    if shared_strings is not None:
        items = "".join(f"<si><t xml:space=\"preserve\">{text}</t></si>" for text in shared_strings)
        parts["xl/sharedStrings.xml"] = (
            f'<sst xmlns="{MAIN}" count="{len(shared_strings)}" '
            f'uniqueCount="{len(shared_strings)}">{items}</sst>'
        )
        overrides.append(("/xl/sharedStrings.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"))
        workbook_rels.append(("rId3", "sharedStrings", "sharedStrings.xml"))
    if table_xml is not None:
        parts["xl/tables/table1.xml"] = table_xml
        parts["xl/worksheets/_rels/sheet1.xml.rels"] = _rels([("rId1", "table", "../tables/table1.xml")])
        overrides.append(("/xl/tables/table1.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.table+xml"))

    types = "".join(f'<Override PartName="{name}" ContentType="{kind}"/>' for name, kind in overrides)
    workbook_pr = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            f'<Default Extension="xml" ContentType="application/xml"/>{types}</Types>',
        )
        archive.writestr("_rels/.rels", _rels([("rId1", "officeDocument", "xl/workbook.xml")]))
        archive.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{RELS}">{workbook_pr}'
            f'<sheets><sheet name="{sheet_name}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr("xl/_rels/workbook.xml.rels", _rels(workbook_rels))
        archive.writestr("xl/styles.xml", STYLES)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def _rels(items: list[tuple[str, str, str]]) -> str:
    body = "".join(
        f'<Relationship Id="{rid}" Type="{RELS}/{kind}" Target="{target}"/>'
        for rid, kind, target in items
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE_RELS}">{body}</Relationships>'


def sheet(rows: str, *, head: str = "", tail: str = "", prefix: str = "") -> str:
    """Return worksheet XML with the given row XML, using `prefix` for the main namespace."""
    p = f"{prefix}:" if prefix else ""
    declaration = f'xmlns:{prefix}="{MAIN}"' if prefix else f'xmlns="{MAIN}"'
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<{p}worksheet {declaration} xmlns:r="{RELS}">{head}'
        f"<{p}sheetData>{rows}</{p}sheetData>{tail}</{p}worksheet>"
    )
