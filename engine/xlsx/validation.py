"""A drop-down list (`<dataValidation type="list">`) added to a sheet's XML tail.

CT_Worksheet fixes the order of the elements after `<sheetData>`: a new
`<dataValidations>` goes after `<mergeCells>`, `<phoneticPr>` and
`<conditionalFormatting>`, and before `<hyperlinks>`, `<printOptions>`,
`<pageMargins>` and everything after them. A list
already present on the same range is left alone, so repeated writes add nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from engine.model import column_letter

# Elements that follow <dataValidations> in CT_Worksheet, in schema order.
_FOLLOWING = (
    "hyperlinks",
    "printOptions",
    "pageMargins",
    "pageSetup",
    "headerFooter",
    "rowBreaks",
    "colBreaks",
    "customProperties",
    "cellWatches",
    "ignoredErrors",
    "smartTags",
    "drawing",
    "legacyDrawing",
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
)
_COUNT = re.compile(rb'(\scount\s*=\s*["\'])(\d+)(["\'])')
# Excel's limit for an inline list (formula1 with quotes), as commonly documented.
MAX_INLINE_LIST = 255


@dataclass(frozen=True, slots=True)
class ListValidation:
    """A drop-down of `choices` on one column from `first_row` to the sheet's end."""

    column: int
    first_row: int
    choices: tuple[str, ...]

    @property
    def sqref(self) -> str:
        letter = column_letter(self.column)
        return f"{letter}{self.first_row}:{letter}1048576"

    def formula(self) -> str:
        """Return the inline list, such as `"Maria Lopez,Tom Becker"`."""
        return '"' + ",".join(choice.replace('"', "") for choice in self.choices) + '"'


def with_validation(tail: bytes, prefix: bytes, validation: ListValidation) -> bytes:
    """Return the sheet tail (from `</sheetData>` on) with the drop-down added once."""
    if not validation.choices or len(validation.formula()) > MAX_INLINE_LIST:
        # TODO: long approver lists need a defined range instead of an inline list.
        return tail
    sqref = validation.sqref.encode()
    if re.search(
        rb"<(?:[\w.-]+:)?dataValidation\b[^>]*\ssqref=\"" + re.escape(sqref) + rb"\"",
        tail,
    ):
        return tail
    p = prefix.decode()
    element = (
        f'<{p}dataValidation type="list" allowBlank="1" showErrorMessage="1" '
        f'sqref="{validation.sqref}"><{p}formula1>{escape(validation.formula())}'
        f"</{p}formula1></{p}dataValidation>"
    ).encode()
    existing = re.search(
        rb"<" + re.escape(prefix) + rb"dataValidations\b[^>]*?(/?)>", tail
    )
    if existing is not None:
        return _append_to_existing(tail, prefix, existing, element)
    block = (
        f'<{p}dataValidations count="1">'.encode()
        + element
        + f"</{p}dataValidations>".encode()
    )
    position = _insert_position(tail, prefix)
    return tail[:position] + block + tail[position:]


def _append_to_existing(
    tail: bytes, prefix: bytes, match: re.Match, element: bytes
) -> bytes:
    opening = match.group(0)
    count = _COUNT.search(opening)
    number = int(count.group(2)) + 1 if count else 1
    if count:
        new_opening = _COUNT.sub(
            lambda m: m.group(1) + str(number).encode() + m.group(3), opening, 1
        )
    else:
        new_opening = opening.replace(b">", b' count="1">', 1)
    if match.group(1):
        new_opening = new_opening[:-2].rstrip() + b">"
        closing = b"</" + prefix + b"dataValidations>"
        return (
            tail[: match.start()]
            + new_opening
            + element
            + closing
            + tail[match.end() :]
        )
    close = tail.index(b"</" + prefix + b"dataValidations>", match.end())
    return (
        tail[: match.start()]
        + new_opening
        + tail[match.end() : close]
        + element
        + tail[close:]
    )


def _insert_position(tail: bytes, prefix: bytes) -> int:
    """Return the offset of the first element that must follow <dataValidations>."""
    positions = []
    for name in _FOLLOWING:
        found = re.search(b"<" + re.escape(prefix) + name.encode() + rb"[\s/>]", tail)
        if found is not None:
            positions.append(found.start())
    if positions:
        return min(positions)
    return tail.rindex(b"</" + prefix + b"worksheet")
