"""The parts of an .xlsx package the patcher reads: workbook, sheet, tables, strings.

Parts are located through the relationship files, never by guessing names, because
files from other tools use other names and absolute targets. Every part parsed here
is size-checked first and parsed without DTDs, entities or network access.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from engine.findings import Finding
from engine.xlsx.patch_errors import NotAWorkbook, WriteError

# Declared uncompressed sizes above these are rejected as possible zip bombs.
MAX_SHEET_BYTES = 2 << 30
MAX_PART_BYTES = 256 << 20
MAX_RATIO = 1000
RATIO_CHECK_FROM = 1 << 20

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OFFICE_DOCUMENT = "/officeDocument"
_TABLE = "/table"

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


@dataclass(frozen=True, slots=True)
class TableArea:
    """An Excel Table on the sheet: its name, range and header row count."""

    name: str
    part: str
    first_row: int
    first_column: int
    last_row: int
    last_column: int
    header_rows: int
    totals_rows: int = 0


@dataclass(slots=True)
class SheetPart:
    """Where a sheet lives in the package and what surrounds it."""

    name: str
    part: str
    date1904: bool
    tables: list[TableArea] = field(default_factory=list)


def check_container(path: Path) -> None:
    """Raise NotAWorkbook unless `path` looks like a zip package."""
    with path.open("rb") as handle:
        magic = handle.read(8)
    if magic == _OLE_MAGIC:
        raise NotAWorkbook(
            Finding(
                path.name,
                "is a password-protected workbook or an old .xls file "
                "(OLE2 container), which the engine cannot write into.",
                "Save it as .xlsx without a password.",
                code="not-a-workbook",
            )
        )
    if not zipfile.is_zipfile(path):
        raise NotAWorkbook(
            Finding(
                path.name,
                "is not an .xlsx workbook (not a zip archive); it may be truncated "
                "or still being saved.",
                "Open it in Excel and save it again as .xlsx.",
                code="not-a-workbook",
            )
        )


def read_small_part(archive: zipfile.ZipFile, name: str, workbook: str) -> etree._Element:
    """Parse a package part after checking its size and rejecting DTDs."""
    info = archive.getinfo(name)
    check_member_size(info, MAX_PART_BYTES, workbook)
    data = archive.read(info)
    if b"<!DOCTYPE" in data[:4096]:
        raise _invalid(workbook, f"part {name} contains a DOCTYPE declaration")
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as error:
        raise _invalid(workbook, f"part {name} is not well-formed XML ({error})") from None


def check_member_size(info: zipfile.ZipInfo, limit: int, workbook: str) -> None:
    if info.file_size > limit:
        raise _invalid(
            workbook,
            f"part {info.filename} declares {info.file_size:,} bytes uncompressed, "
            f"more than the {limit:,} bytes the engine accepts",
        )
    if info.file_size >= RATIO_CHECK_FROM and info.file_size > MAX_RATIO * max(
        info.compress_size, 1
    ):
        raise _invalid(
            workbook,
            f"part {info.filename} inflates from {info.compress_size:,} to "
            f"{info.file_size:,} bytes (more than {MAX_RATIO}:1)",
        )


def _invalid(workbook: str, message: str) -> NotAWorkbook:
    return NotAWorkbook(
        Finding(
            workbook,
            f"cannot be written: {message}.",
            "Open it in Excel and save it again as .xlsx.",
            code="invalid-package",
        )
    )


def find_sheet(archive: zipfile.ZipFile, sheet: str, workbook: str) -> SheetPart:
    """Locate a worksheet part by sheet name, plus the date system and its tables."""
    names = _member_names(archive)
    workbook_part = _office_document(archive, names, workbook)
    if workbook_part.endswith(".bin"):
        raise NotAWorkbook(
            Finding(
                workbook,
                "is a binary workbook (.xlsb), which the engine cannot write into.",
                "Save it as .xlsx (Excel Workbook).",
                code="not-a-workbook",
            )
        )
    root = read_small_part(archive, workbook_part, workbook)
    date1904 = any(
        el.get("date1904") in ("1", "true") for el in _children(root, "workbookPr")
    )
    sheet_ids = {
        el.get("name"): _relationship_id(el) for el in root.iter() if _local(el) == "sheet"
    }
    if sheet not in sheet_ids:
        available = ", ".join(repr(name) for name in sheet_ids)
        raise WriteError(
            Finding(
                f"{workbook} › {sheet}",
                f"sheet {sheet!r} not found; the workbook has {available}.",
                "Correct the sheet name in rules/workbooks.yaml.",
                code="sheet-not-found",
            )
        )
    targets = _relationships(archive, names, workbook_part, workbook)
    part = targets.get(sheet_ids[sheet] or "", (None, ""))[0]
    if part is None or "worksheet" not in targets[sheet_ids[sheet] or ""][1]:
        raise WriteError(
            Finding(
                f"{workbook} › {sheet}",
                "is not a worksheet with cells (a chart sheet or a missing part).",
                "Point rules/workbooks.yaml at a worksheet.",
                code="sheet-not-found",
            )
        )
    found = SheetPart(sheet, part, date1904)
    found.tables = _tables(archive, names, part, workbook)
    return found


def _member_names(archive: zipfile.ZipFile) -> dict[str, str]:
    # Part names are case-insensitive in OPC, zip member names are not.
    return {name.lower(): name for name in archive.namelist()}


def _office_document(archive: zipfile.ZipFile, names: dict[str, str], workbook: str) -> str:
    if "_rels/.rels" in names:
        for target, kind in _relationships(archive, names, "", workbook).values():
            if kind.endswith(_OFFICE_DOCUMENT) and target:
                return target
    for candidate in ("xl/workbook.xml", "xl/workbook.bin"):
        if candidate in names:
            return names[candidate]
    raise NotAWorkbook(
        Finding(
            workbook,
            "is a zip archive without a workbook part (xl/workbook.xml), so it is not "
            "an Excel workbook.",
            "Check that the file is the workbook staff edit, and save it as .xlsx.",
            code="not-a-workbook",
        )
    )


def _relationships(
    archive: zipfile.ZipFile, names: dict[str, str], source: str, workbook: str
) -> dict[str, tuple[str | None, str]]:
    """Map relationship id -> (member name or None, relationship type) for a part."""
    folder, base = posixpath.split(source)
    rels_name = posixpath.join(folder, "_rels", base + ".rels")
    member = names.get(rels_name.lower())
    if member is None:
        return {}
    result = {}
    for el in read_small_part(archive, member, workbook).iter():
        if _local(el) != "Relationship" or el.get("TargetMode") == "External":
            continue
        target = el.get("Target") or ""
        if target.startswith("/"):
            resolved = target.lstrip("/")
        else:
            resolved = posixpath.normpath(posixpath.join(folder, target))
        result[el.get("Id") or ""] = (names.get(resolved.lower()), el.get("Type") or "")
    return result


def _tables(
    archive: zipfile.ZipFile, names: dict[str, str], sheet_part: str, workbook: str
) -> list[TableArea]:
    tables = []
    for target, kind in _relationships(archive, names, sheet_part, workbook).values():
        if target is None or not kind.endswith(_TABLE):
            continue
        root = read_small_part(archive, target, workbook)
        area = parse_range(root.get("ref") or "")
        if area is None:
            continue
        tables.append(
            TableArea(
                name=root.get("displayName") or root.get("name") or target,
                part=target,
                first_row=area[0],
                first_column=area[1],
                last_row=area[2],
                last_column=area[3],
                header_rows=int(root.get("headerRowCount") or 1),
                totals_rows=int(root.get("totalsRowCount") or 0),
            )
        )
    return tables


def workbook_part_names(archive: zipfile.ZipFile, workbook: str) -> dict[str, str]:
    """Return the workbook part and its styles part by role: "workbook", "styles"."""
    names = _member_names(archive)
    workbook_part = _office_document(archive, names, workbook)
    found = {"workbook": workbook_part}
    for target, kind in _relationships(archive, names, workbook_part, workbook).values():
        if target is not None and kind.endswith("/styles"):
            found["styles"] = target
    return found


def shared_strings(archive: zipfile.ZipFile, indexes: set[int], workbook: str) -> dict[int, str]:
    """Return the text of the requested shared-string indexes (streamed, not loaded)."""
    names = _member_names(archive)
    workbook_part = _office_document(archive, names, workbook)
    part = None
    for target, kind in _relationships(archive, names, workbook_part, workbook).values():
        if kind.endswith("/sharedStrings"):
            part = target
    if part is None or not indexes:
        return {}
    check_member_size(archive.getinfo(part), MAX_PART_BYTES, workbook)
    found: dict[int, str] = {}
    wanted_max = max(indexes)
    with archive.open(part) as stream:
        for position, (_, el) in enumerate(
            etree.iterparse(stream, events=("end",), tag="{*}si", resolve_entities=False,
                            no_network=True, load_dtd=False)
        ):  # fmt: skip
            if position in indexes:
                found[position] = "".join(
                    t.text or "" for t in el.iter() if _local(t) == "t" and not _in_phonetic(t)
                )
            el.clear()
            if position >= wanted_max:
                break
    return found


def _in_phonetic(el: etree._Element) -> bool:
    parent = el.getparent()
    return parent is not None and _local(parent) == "rPh"


def parse_cell_ref(ref: str) -> tuple[int, int] | None:
    """Return (row, column) of an A1 reference such as `$B$12`, or None if invalid."""
    ref = ref.replace("$", "").upper()
    letters = ref.rstrip("0123456789")
    digits = ref[len(letters) :]
    if not letters or not digits or not letters.isalpha() or len(letters) > 3:
        return None
    column = 0
    for letter in letters:
        column = column * 26 + ord(letter) - 64
    return int(digits), column


def parse_range(ref: str) -> tuple[int, int, int, int] | None:
    """Return (first row, first column, last row, last column) of `A1:C3` or `B2`."""
    first, _, last = ref.partition(":")
    start = parse_cell_ref(first)
    end = parse_cell_ref(last) if last else start
    if start is None or end is None:
        return None
    return min(start[0], end[0]), min(start[1], end[1]), max(start[0], end[0]), max(start[1], end[1])


def _children(root: etree._Element, local: str) -> list[etree._Element]:
    return [el for el in root if _local(el) == local]


def _local(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def _relationship_id(el: etree._Element) -> str | None:
    # Transitional and Strict OOXML use different relationship namespaces.
    for key, value in el.attrib.items():
        if key.startswith("{") and key.endswith("}id") and "relationships" in key:
            return value
    return None
