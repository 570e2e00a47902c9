"""Where a project's files live: the folder that holds rules/, templates/ and the map."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Project:
    root: Path

    @classmethod
    def at(cls, root: Path | str) -> "Project":
        return cls(Path(root).resolve())

    @property
    def rules_dir(self) -> Path:
        return self.root / "rules"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def workbook_map_path(self) -> Path:
        return self.rules_dir / "workbooks.yaml"
