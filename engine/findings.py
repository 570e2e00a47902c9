"""Findings: problems found in workbooks or rule files, each with where it was found.

A pass collects findings instead of stopping at the first one, so a person sees every
problem of a save at once. Only the CLI turns them into printed text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem, located in a workbook cell or a rule-file line.

    `where` is `orders.xlsx › Orders › G2` for a cell, `orders.xlsx › Orders` for a
    sheet, or `rules/credit.yaml:14:5` for a rule-file position. `message` names the
    value found; `fix` says what the reader should do about it.
    """

    where: str
    message: str
    fix: str = ""
    severity: Severity = Severity.ERROR
    code: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        if self.fix:
            text += f" {self.fix}"
        return text


class EngineError(Exception):
    """An error that stops the current step, carrying the findings that explain it."""

    def __init__(self, findings: list[Finding] | Finding):
        if isinstance(findings, Finding):
            findings = [findings]
        self.findings: list[Finding] = list(findings)
        super().__init__("\n".join(str(f) for f in self.findings))


@dataclass(slots=True)
class FindingLog:
    """Findings of one pass, in the order they were found, without repeats."""

    items: list[Finding] = field(default_factory=list)
    _seen: set[Finding] = field(default_factory=set)

    def add(self, finding: Finding) -> None:
        if finding not in self._seen:
            self._seen.add(finding)
            self.items.append(finding)

    def extend(self, findings) -> None:
        for finding in findings:
            self.add(finding)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.items if f.severity is Severity.ERROR]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)
