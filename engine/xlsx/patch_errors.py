"""Errors raised by the workbook patcher; each carries the findings that explain it."""

from __future__ import annotations

from engine.findings import EngineError, Finding


class WriteError(EngineError):
    """A write-back that did not happen; the workbook on disk is unchanged."""


class WriteRefused(WriteError):
    """One or more target cells must not be overwritten (formula, merged, header...)."""


class FileChanged(WriteError):
    """The workbook no longer has the bytes the pass read."""


class FileLocked(WriteError):
    """Excel or LibreOffice has the workbook open (its lock file exists)."""

    def __init__(self, findings: list[Finding] | Finding, owner: str | None = None):
        super().__init__(findings)
        self.owner = owner


class NotAWorkbook(WriteError):
    """The file is not an .xlsx/.xlsm package the patcher can write into."""
