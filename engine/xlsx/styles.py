"""Cell formats the writer adds to a workbook's styles part, and nothing more.

A written date needs a date number format to show as a date, and a coloured status
needs a fill. Both are new `cellXfs` entries copied from the cell's current entry,
so its font, border, alignment and protection stay. New entries are appended by
splicing bytes before `</fills>` and `</cellXfs>`, and their `count` attributes are
updated. The rest of styles.xml stays byte-identical, and an entry this writer added
on an earlier pass is found and reused, so repeated passes add nothing.
"""

from __future__ import annotations

import copy
import re

from lxml import etree
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

# numFmtId 14 is Excel's built-in short date, shown in the reader's locale (m/d/yyyy
# in en-US, dd.mm.yyyy in de-DE).
DATE_FORMAT_ID = 14
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_COUNT = re.compile(rb'(\scount\s*=\s*["\'])(\d+)(["\'])')


class StyleError(ValueError):
    """The styles part lacks the structure new cell formats are appended to."""


class StyleBook:
    """The `cellXfs` and `fills` of one styles part, plus the entries added to them."""

    def __init__(self, xml: bytes):
        self.original = xml
        root = etree.fromstring(xml, _PARSER)
        self.namespace = etree.QName(root).namespace or ""
        self.prefix = _prefix(xml)
        self.number_formats = {
            int(element.get("numFmtId", "0")): element.get("formatCode", "")
            for element in root.iter(self._tag("numFmt"))
        }
        fills = root.find(self._tag("fills"))
        xfs = root.find(self._tag("cellXfs"))
        if fills is None or xfs is None:
            raise StyleError("styles part has no <fills> or <cellXfs>")
        self.fills = [_element_key(fill) for fill in fills]
        self.xfs = list(xfs)
        self.new_fills: list[bytes] = []
        self.new_xfs: list[bytes] = []
        self._xf_keys = {_xf_key(xf): index for index, xf in enumerate(self.xfs)}

    @property
    def changed(self) -> bool:
        return bool(self.new_fills or self.new_xfs)

    def is_date(self, index: int) -> bool:
        """Return True when cell format `index` shows numbers as dates."""
        xf = self._xf(index)
        number_format = int(xf.get("numFmtId", "0")) if xf is not None else 0
        code = self.number_formats.get(number_format) or BUILTIN_FORMATS.get(
            number_format, "General"
        )
        return (
            14 <= number_format <= 22
            or 45 <= number_format <= 47
            or (is_date_format(code))
        )

    def with_date_format(self, index: int) -> int:
        """Return a cell format like `index` but with the built-in short date."""
        xf = self._copy(index)
        xf.set("numFmtId", str(DATE_FORMAT_ID))
        xf.set("applyNumberFormat", "1")
        return self._add_xf(xf)

    def with_fill(self, index: int, argb: str) -> int:
        """Return a cell format like `index` but with a solid fill of colour `argb`."""
        xf = self._copy(index)
        xf.set("fillId", str(self._fill_id(argb)))
        xf.set("applyFill", "1")
        return self._add_xf(xf)

    def to_bytes(self) -> bytes:
        """Return the styles part with the new fills and cell formats appended."""
        xml = self.original
        xml = _append(xml, self.prefix + b"fills", self.new_fills, len(self.fills))
        return _append(xml, self.prefix + b"cellXfs", self.new_xfs, len(self.xfs))

    def _tag(self, local: str) -> str:
        return f"{{{self.namespace}}}{local}" if self.namespace else local

    def _xf(self, index: int):
        return self.xfs[index] if 0 <= index < len(self.xfs) else None

    def _copy(self, index: int):
        xf = self._xf(index)
        if xf is None:
            xf = etree.Element(self._tag("xf"))
            for name in ("numFmtId", "fontId", "fillId", "borderId", "xfId"):
                xf.set(name, "0")
        return copy.deepcopy(xf)

    def _add_xf(self, xf) -> int:
        key = _xf_key(xf)
        if key in self._xf_keys:
            return self._xf_keys[key]
        self.xfs.append(xf)
        self.new_xfs.append(_serialize(xf, self.namespace, self.prefix))
        self._xf_keys[key] = len(self.xfs) - 1
        return len(self.xfs) - 1

    def _fill_id(self, argb: str) -> int:
        p = self.prefix.decode()
        fill = (
            f'<{p}fill><{p}patternFill patternType="solid"><{p}fgColor rgb="{argb}"/>'
            f'<{p}bgColor indexed="64"/></{p}patternFill></{p}fill>'
        ).encode()
        parsed = _element_key(
            etree.fromstring(_wrapped(fill, self.namespace, self.prefix), _PARSER)[0]
        )
        for index, existing in enumerate(self.fills):
            if existing == parsed:
                return index
        self.fills.append(parsed)
        self.new_fills.append(fill)
        return len(self.fills) - 1


def _prefix(xml: bytes) -> bytes:
    match = re.search(rb"<([A-Za-z_][\w.-]*:)?styleSheet[\s>]", xml)
    return (match.group(1) or b"") if match else b""


def _xf_key(xf) -> tuple:
    return (
        tuple(sorted((key, value) for key, value in xf.attrib.items())),
        tuple(_element_key(child) for child in xf),
    )


def _element_key(element) -> tuple:
    """Return what makes two elements the same entry: names, attributes, text.

    Serialized bytes would not do: an element of a part Excel saved carries the
    namespace declarations of its root (mc, x14ac, ...), which an element parsed on
    its own lacks, so the same fill never matched and each pass added another.
    """
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        (element.text or "").strip(),
        tuple(_element_key(child) for child in element),
    )


def _wrapped(fragment: bytes, namespace: str, prefix: bytes) -> bytes:
    name = b"xmlns:" + prefix[:-1] if prefix else b"xmlns"
    return b"<w " + name + b'="' + namespace.encode() + b'">' + fragment + b"</w>"


def _serialize(xf, namespace: str, prefix: bytes) -> bytes:
    """Return an xf element as it is spliced into the part, without xmlns attributes."""
    text = etree.tostring(xf)
    declaration = rb'\sxmlns(?::[\w.-]+)?="' + re.escape(namespace.encode()) + rb'"'
    return re.sub(declaration, b"", text, count=1)


def _append(xml: bytes, tag: bytes, entries: list[bytes], count: int) -> bytes:
    """Insert `entries` before `</tag>` and set the element's count to `count`."""
    if not entries:
        return xml
    start = re.search(b"<" + re.escape(tag) + rb"[\s>/]", xml)
    if start is None:
        raise StyleError(f"styles part has no <{tag.decode()}>")
    tag_end = xml.index(b">", start.start())
    opening = xml[start.start() : tag_end + 1]
    body = b"".join(entries)
    if opening.endswith(b"/>"):
        new_opening = opening[:-2].rstrip() + b">"
        replacement = _with_count(new_opening, count) + body + b"</" + tag + b">"
        return xml[: start.start()] + replacement + xml[tag_end + 1 :]
    close = xml.index(b"</" + tag + b">", tag_end)
    return (
        xml[: start.start()]
        + _with_count(opening, count)
        + xml[tag_end + 1 : close]
        + body
        + xml[close:]
    )


def _with_count(opening: bytes, count: int) -> bytes:
    if _COUNT.search(opening):
        return _COUNT.sub(
            lambda m: m.group(1) + str(count).encode() + m.group(3), opening, 1
        )
    return opening[:-1] + b' count="' + str(count).encode() + b'">'
