"""Typed reads from a loaded rule file that collect findings instead of stopping.

Each read names the file, line and column of the value it rejects, the value found
and what to write instead. A read that fails returns None (or the default), so the
caller carries on and every mistake of the file is reported in one run.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarfloat import ScalarFloat

from engine.findings import Finding
from engine.rules.fields import closest
from engine.yamlfile import key_position, position

AMOUNT = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?|\d+(\.\d+)?")
PERCENT = re.compile(r"(\d+(\.\d+)?)\s*%")


class RuleFile:
    """One rule file being read: its display name, source lines and findings."""

    def __init__(self, shown: str, text: str, findings: list[Finding]):
        self.shown = shown
        self.lines = text.splitlines()
        self.findings = findings
        self.sha256 = ""

    # Positions and findings.

    def where(self, node, key=None) -> str:
        return str(position(node, key, path=self.shown))

    def key_where(self, node, key) -> str:
        return str(key_position(node, key, path=self.shown))

    def error(self, where: str, message: str, fix: str = "", code: str = "") -> None:
        self.findings.append(Finding(where, message, fix, code=code))

    def value_column_offset(self, node, key, offset: int) -> str:
        """Return the position `offset` characters into a one-line scalar value."""
        pos = position(node, key, path=self.shown)
        line = self.lines[pos.line - 1] if 0 < pos.line <= len(self.lines) else ""
        column = pos.column
        if line[column - 1 : column] in ("'", '"'):
            column += 1
        return f"{self.shown}:{pos.line}:{column + offset}"

    # Structure.

    def check_keys(
        self, node: CommentedMap, allowed: Iterable[str], context: str
    ) -> None:
        allowed = list(allowed)
        for key in node:
            if key in allowed:
                continue
            guess = closest(str(key), allowed)
            fix = (
                f"Did you mean '{guess}'?"
                if guess
                else "Valid: " + ", ".join(allowed) + "."
            )
            self.error(
                self.key_where(node, key),
                f"unknown field '{key}' in {context}.",
                fix,
                code="unknown-field",
            )

    def mapping(self, node, key, context: str, required: bool = False):
        if key not in node:
            if required:
                self.missing(node, key, context)
            return None
        value = node[key]
        if not isinstance(value, CommentedMap):
            self.error(
                self.where(node, key),
                f"'{key}' must be a mapping of names to values, found {describe(value)}.",
                "Write one 'name: value' per line, indented under it.",
                code="wrong-type",
            )
            return None
        return value

    def sequence(self, node, key, context: str, required: bool = False):
        if key not in node:
            if required:
                self.missing(node, key, context)
            return None
        value = node[key]
        if not isinstance(value, CommentedSeq):
            self.error(
                self.where(node, key),
                f"'{key}' must be a list, found {describe(value)}.",
                "Write each entry on its own line starting with '- '.",
                code="wrong-type",
            )
            return None
        return value

    def missing(self, node, key, context: str) -> None:
        self.error(
            self.where(node),
            f"{context} has no '{key}'.",
            f"Add '{key}:' to it.",
            code="missing-field",
        )

    # Scalars.

    def text(self, node, key, context: str, *, required=True, default=None):
        if key not in node:
            if required:
                self.missing(node, key, context)
            return default
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.error(
                self.where(node, key),
                f"'{key}' must be text, found {describe(value)}.",
                code="wrong-type",
            )
            return default
        value = str(value).strip()
        if not value:
            self.error(self.where(node, key), f"'{key}' is empty.", code="wrong-type")
            return default
        return value

    def integer(
        self, node, key, context: str, *, required=True, default=None, minimum: int = 0
    ):
        if key not in node:
            if required:
                self.missing(node, key, context)
            return default
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(
                self.where(node, key),
                f"'{key}' must be a whole number, found {describe(value)}.",
                code="wrong-type",
            )
            return default
        if value < minimum:
            self.error(
                self.where(node, key),
                f"'{key}' is {value}, below the minimum of {minimum}.",
                code="out-of-range",
            )
            return default
        return int(value)

    def flag(self, node, key, context: str, *, default: bool) -> bool:
        if key not in node:
            return default
        value = node[key]
        if not isinstance(value, bool):
            self.error(
                self.where(node, key),
                f"'{key}' must be yes or no, found {describe(value)}.",
                "Write true or false.",
                code="wrong-type",
            )
            return default
        return value

    def amount(self, node, key, context: str, *, required=True, positive=False,
               places: int | None = None):
        """Read a non-negative Decimal: 40000, 40000.50 or '40,000.50'."""
        if key not in node:
            if required:
                self.missing(node, key, context)
            return None
        return self.amount_value(node[key], self.where(node, key), str(key), positive,
                                 places=places)

    def amount_value(self, value, where: str, label: str, positive=False, *,
                     places: int | None = None):
        """Return `value` as a Decimal, or None after an error.

        With `places`, a number written with more decimals is an error: a limit
        written 1.500 is most likely one thousand five hundred.
        """
        number = to_decimal(value)
        if number is None:
            self.error(
                where,
                f"'{label}' must be an amount such as 40000 or 40000.50, "
                f"found {describe(value)}.",
                code="wrong-type",
            )
            return None
        written = written_places(value)
        if places is not None and written is not None and written > places:
            self.error(
                where,
                f"'{label}' is written {number:.{written}f}, with {written} decimals; "
                f"an amount has at most {places}.",
                "Write the amount without a thousands separator, such as 1500, "
                "or with a comma, such as '1,500'.",
                code="thousands-separator",
            )
            return None
        if number < 0 or (positive and number == 0):
            bound = "greater than 0" if positive else "0 or more"
            self.error(
                where,
                f"'{label}' is {number}; it must be {bound}.",
                code="out-of-range",
            )
            return None
        return number

    def fraction(self, node, key, context: str, *, default=None):
        """Read a share written as 80% or 0.8 and return it as a Decimal fraction."""
        if key not in node:
            return default
        value = node[key]
        if isinstance(value, str) and PERCENT.fullmatch(value.strip()):
            number = Decimal(PERCENT.fullmatch(value.strip()).group(1)) / 100
        else:
            number = to_decimal(value)
        if number is None or not 0 < number <= 1:
            self.error(
                self.where(node, key),
                f"'{key}' must be a share between 0 and 100 %, found {describe(value)}.",
                "Write it as 80% or 0.8.",
                code="out-of-range",
            )
            return default
        return number

    def text_list(self, node, key, context: str, *, required=False):
        if key not in node:
            if required:
                self.missing(node, key, context)
            return None
        value = node[key]
        if isinstance(value, str):
            return [value.strip()]
        if not isinstance(value, CommentedSeq):
            self.error(
                self.where(node, key),
                f"'{key}' must be a list such as [salesperson, finance], "
                f"found {describe(value)}.",
                code="wrong-type",
            )
            return None
        items = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.error(
                    self.where(value, index),
                    f"entry {index + 1} of '{key}' must be text, found {describe(item)}.",
                    code="wrong-type",
                )
                continue
            items.append(item.strip())
        return items


def written_places(value: Any) -> int | None:
    """Return the decimals a number is written with in the YAML text, if known."""
    if isinstance(value, ScalarFloat):
        width, dot = getattr(value, "_width", None), getattr(value, "_prec", None)
        if getattr(value, "_exp", None) or not isinstance(width, int) \
                or not isinstance(dot, int) or dot < 0:
            return None
        return width - dot - 1
    if isinstance(value, str):
        number = to_decimal(value)
        if number is not None and isinstance(number.as_tuple().exponent, int):
            return max(-number.as_tuple().exponent, 0)
    return None


def to_decimal(value: Any) -> Decimal | None:
    """Convert a YAML number or an amount typed as text to Decimal, exactly."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # The YAML text of a float such as 1.085 round-trips through repr exactly.
        return Decimal(repr(float(value)))
    if isinstance(value, str) and AMOUNT.fullmatch(value.strip()):
        try:
            return Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return None
    return None


def describe(value: Any) -> str:
    """Describe a YAML value for a message: its text and what kind of value it is."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"'{str(value).lower()}' (yes/no)"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
