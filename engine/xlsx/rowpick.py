"""Picking the mapped and owned values out of a sheet's rows as they are streamed.

A row at Excel's row limit costs microseconds per cell, so most rows are picked
straight from the regular expression's matches of their cells (`pick_matches`),
without a `RawCell` per cell. A row holding any other cell (a formula, an error,
a boolean, inline text, attributes in another order, an escaped character) is
turned into RawCells and picked by `pick`, which handles every cell type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from itertools import islice
from types import MappingProxyType
from typing import TYPE_CHECKING

from engine.xlsx.sheetscan import MAX_DENSE_CELLS
from engine.xlsx.stream import (
    SIXTY,
    TEXT_KINDS,
    CellReader,
    RawCell,
    check_extent,
    column_of,
    formula_cell,
    group_rows,
    is_serial_sixty,
    last_value_column,
    unescape,
    unescape_chars,
)

if TYPE_CHECKING:
    from engine.xlsx.stream import SheetStream

# Marks the end of a block of matches: its empty row text ends the last row.
END_OF_BLOCK = ("", "", "", "", "", "", "")
PLAIN_INLINE = re.compile(r'<is><t(?: xml:space="preserve")?>([^<]*)</t></is>\Z')
# Distinct date values kept per style; a sheet's dates repeat a few thousand days.
DATE_CACHE_SIZE = 100_000

# A picked row: (values, owned, text, formulas, sixty).
#   values: mapped field -> value, None for an empty cell;
#   owned: owned field -> value now in the sheet;
#   text: the first non-blank text cell in any column, or None;
#   formulas: mapped formula and error cells by column, or None;
#   sixty: mapped number cells holding serial 60, by column, or None.
Picked = tuple[dict[str, object], Mapping[str, object], str | None,
               dict[int, object] | None, set[int] | None]


def inline_text(kind: str, more: str, body: str) -> str | None:
    """Return the text of an inline string cell of one plain run, else None."""
    if more or kind != "inlineStr":
        return None
    plain = PLAIN_INLINE.match(body)
    if plain is None:
        return None
    text = plain.group(1)
    if "&" in text or "_x" in text:
        return unescape_chars(unescape(text))
    return text


class RowPicker:
    """Converts only the cells of mapped and owned columns of each row."""

    def __init__(self, cells: CellReader, columns: Mapping[str, int],
                 owned: Mapping[str, int], owned_names: tuple[str, ...]):
        self.cells = cells
        self.names = tuple(columns)
        self.owned_names = owned_names
        # A sheet's rows without owned values share one empty mapping.
        self.no_owned = MappingProxyType(dict.fromkeys(owned_names))
        self.slots: dict[int, list[tuple[bool, str]]] = {}
        for name, column in columns.items():
            self.slots.setdefault(column, []).append((False, name))
        for name, column in owned.items():
            self.slots.setdefault(column, []).append((True, name))
        # Column letters -> (column, the one mapped field or None, slot or None).
        self.by_letters: dict[str, tuple[int, str | None, list | None]] = {}
        # s attribute of a date or duration style -> its values by cell text.
        self.date_caches: dict[str, dict[str, object]] = {
            style: {} for style in cells.dated}

    def pick(self, cells: list[RawCell]) -> Picked | None:
        """Return the row's values, or None when no mapped cell contains a value."""
        values = dict.fromkeys(self.names)
        owned = self.no_owned
        text = formulas = sixty = None
        present = False
        strings, dated, value_of = self.cells.strings, self.cells.dated, self.cells.value
        dates = self.cells.dates
        slot_of = self.slots.get
        for cell in cells:
            column, kind, style, cached, formula, _inline = cell
            slot = slot_of(column)
            if slot is None:
                if text is None and kind in TEXT_KINDS:
                    value = value_of(cell)
                    if value and not value.isspace():
                        text = value
                continue
            # The two common cells inline: a shared string and a plain number.
            if kind == "s" and cached and cached.isdecimal():
                try:
                    value = strings[int(cached)] or None
                except IndexError:
                    value = value_of(cell)  # raises the missing-string error
            elif not kind and cached and formula is None:
                date_kind = dated.get(style)
                if date_kind:
                    value = dates.get((cached, date_kind)) or value_of(cell)
                else:
                    try:
                        value = float(cached)
                    except ValueError:
                        value = value_of(cell) or None
            else:
                value = value_of(cell)
                if value == "":
                    value = None
            if value is None:
                if formula is None and kind != "e" and len(slot) == 1 and not slot[0][0]:
                    continue  # the field already reads None and has nothing to check
            elif text is None and type(value) is str and not value.isspace():
                text = value
            for is_owned, name in slot:
                if is_owned:
                    if value is not None:
                        if owned is self.no_owned:
                            owned = dict.fromkeys(self.owned_names)
                        owned[name] = value
                    continue
                values[name] = value
                if value is not None:
                    present = True
                if formula is not None or kind == "e":
                    formulas = formulas or {}
                    formulas[column] = formula_cell(cell)
                elif cached is not None and cached[:2] == "60" and is_serial_sixty(cell):
                    sixty = sixty or set()
                    sixty.add(column)
        if not present:
            return None
        return values, owned, text, formulas, sixty

    def letter_slot(self, letters: str) -> tuple[int, str | None, list | None]:
        """Return (column, the one mapped field or None, slot) of column `letters`."""
        column = column_of(letters)
        slot = self.slots.get(column)
        single = slot[0][1] if slot is not None and len(slot) == 1 \
            and not slot[0][0] else None
        found = self.by_letters[letters] = (column, single, slot)
        return found

    def pick_matches(self, matches: list[tuple], at: int, start: int,
                     stream: SheetStream) -> Iterator[tuple[int, Picked]]:
        """Yield (row number, picked row) for the rows of `matches` from index `at`.

        `matches` are the FAST_CELL matches of a block of whole rows. Rows before
        `start` and rows without mapped values yield nothing. The rightmost column
        and last row holding a value are kept in `stream` as `SheetStream.note`
        keeps them.
        """
        names, no_owned, strings = self.names, self.no_owned, self.cells.strings
        date_caches, by_letters = self.date_caches, self.by_letters
        width, last_row = stream.width, stream.last_row
        number_text = None
        number = row_start = last_column = 0
        index = at - 1
        odd = present = False
        values: dict[str, object] = {}
        owned: Mapping[str, object] = no_owned
        text = sixty = None
        matches.append(END_OF_BLOCK)
        try:
            for letters, row_text, style, kind, more, cached, body in \
                    (islice(matches, at, None) if at else matches):
                index += 1
                if row_text != number_text:
                    # The row before ends here.
                    if odd and number_text is not None:
                        for row_number, cells in group_rows(matches[row_start:index]):
                            column = last_value_column(cells)
                            if column:
                                width = max(width, column)
                                last_row = row_number
                                check_extent(row_number, width, stream.shown,
                                             stream.sheet)
                            picked = self.pick(cells) if row_number >= start else None
                            if picked is not None:
                                yield row_number, picked
                    elif number_text is not None:
                        if last_column:
                            width = max(width, last_column)
                            last_row = number
                            if number * max(width, 26) > MAX_DENSE_CELLS:
                                check_extent(number, width, stream.shown, stream.sheet)
                        if present:
                            yield number, (values, owned, text, None, sixty)
                    if not row_text:
                        break
                    number_text, row_start = row_text, index
                    number = int(row_text)
                    odd = number < start
                    values = dict.fromkeys(names)
                    owned, text, sixty = no_owned, None, None
                    present, last_column = False, 0
                if odd:
                    continue
                if more or body:
                    # The engine's own Status and Reason cells are inline strings.
                    value = inline_text(kind, more, body)
                    if value is None:
                        odd = True
                        continue
                elif not cached:
                    odd = kind == "e"  # an empty error cell still holds the row
                    continue
                elif kind == "s":
                    # int() as CellReader.value reads the index, IndexError included.
                    try:
                        value = strings[int(cached)]
                    except (ValueError, IndexError):
                        odd = True
                        continue
                else:
                    value = None
                column, single, slot = by_letters.get(letters) \
                    or self.letter_slot(letters)
                last_column = column
                if value is not None:
                    if slot is None or not value:
                        # Unmapped, only the row's first text counts (totals rows).
                        # An empty string reads None, as an empty cell.
                        if text is None and value and not value.isspace():
                            text = value
                        continue
                    if text is None and not value.isspace():
                        text = value
                elif slot is None:
                    if kind in TEXT_KINDS:
                        odd = text is None  # picked by CellReader.value
                    continue
                elif not kind or kind == "n":
                    dates = date_caches.get(style)
                    if dates is None:
                        try:
                            value = float(cached)
                        except ValueError:
                            odd = True
                            continue
                    else:
                        value = dates.get(cached)
                        if value is None:
                            if "&" in cached:
                                odd = True
                                continue
                            value = self.date_of(cached, style, dates)
                        if text is None and type(value) is str \
                                and not value.isspace():
                            text = value
                    if cached[0] == "6" and SIXTY.match(cached) \
                            and (single is not None or self.is_mapped(slot)):
                        sixty = sixty or set()
                        sixty.add(column)
                else:
                    odd = True
                    continue
                if single is not None:
                    values[single] = value
                    present = True
                    continue
                for is_owned, name in slot:
                    if is_owned:
                        if owned is no_owned:
                            owned = dict.fromkeys(self.owned_names)
                        owned[name] = value
                        continue
                    values[name] = value
                    present = True
        finally:
            matches.pop()
            stream.width, stream.last_row = width, last_row

    @staticmethod
    def is_mapped(slot: list[tuple[bool, str]]) -> bool:
        """Return True when a mapped field, not only owned ones, reads the column."""
        return any(not is_owned for is_owned, _name in slot)

    def date_of(self, cached: str, style: str, dates: dict[str, object]) -> object:
        """Return the value of a date or duration cell, kept in `dates` for its style."""
        value = self.cells.date_cell(cached, self.cells.dated[style])
        if len(dates) < DATE_CACHE_SIZE:
            dates[cached] = value
        return value
