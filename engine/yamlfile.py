"""Loading finance-edited YAML with the line and column of every value.

ruamel.yaml's round-trip loader keeps positions (`.lc`) and builds only plain
mappings, sequences and scalars: no tag in a rule file can construct a Python object.
Aliases are kept as shared references by the loader, so a "billion laughs" file is
cheap to load but explodes when walked; `check_size` walks it once with a node budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from engine.findings import EngineError, Finding

MAX_NODES = 200_000
MAX_BYTES = 2_000_000


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in a YAML file, as editors show them."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


def display_path(path: Path, root: Path | None = None) -> str:
    """Return the path as a person would type it: relative to `root` when inside it."""
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def load_yaml(path: Path, shown_as: str | None = None):
    """Load one YAML file, raising EngineError with the file:line:column of any fault."""
    shown = shown_as or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise EngineError(Finding(shown, "file not found.", "Create it or fix the path."))
    if len(raw) > MAX_BYTES:
        raise EngineError(
            Finding(shown, f"file is {len(raw):,} bytes, over the {MAX_BYTES:,}-byte limit.")
        )
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EngineError(
            Finding(shown, f"not UTF-8 text ({exc.reason} at byte {exc.start}).",
                    "Save the file as UTF-8.")
        )
    except MarkedYAMLError as exc:
        mark, problem = fault_mark(exc)
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
        raise EngineError(Finding(where, f"YAML syntax error: {problem}.",
                                  "Check indentation, colons and quotes on this line."))
    except YAMLError as exc:
        raise EngineError(Finding(shown, f"YAML error: {exc}."))
    check_size(data, shown)
    return data


# Contexts of constructs left open (a missing `]`, `}`, closing quote or colon):
# ruamel notices the fault lines later, at problem_mark, but the typo is where the
# construct starts, at context_mark (ruamel.yaml 0.18).
UNCLOSED = ("flow sequence", "flow mapping", "quoted scalar", "simple key")


def fault_mark(exc: MarkedYAMLError):
    """Return the mark of the line to fix and the problem text for a YAML error."""
    problem = exc.problem or exc.context or "invalid YAML"
    context = exc.context or ""
    if exc.context_mark is not None and any(word in context for word in UNCLOSED):
        noticed = exc.problem_mark
        if noticed is not None and noticed.line != exc.context_mark.line:
            problem = f"{problem} at line {noticed.line + 1} ({context} started here)"
        return exc.context_mark, problem
    return exc.problem_mark or exc.context_mark, problem


def check_size(data, shown: str) -> None:
    """Walk the loaded tree once and reject alias expansion past MAX_NODES."""
    budget = MAX_NODES
    stack = [data]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise EngineError(
                Finding(shown, f"expands to more than {MAX_NODES:,} values "
                        "(nested aliases?).",
                        "Remove the repeated '*alias' references.")
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def position(node, key=None, *, path: str) -> Position:
    """Return the position of `node[key]` (or of the node itself when key is None)."""
    try:
        if key is None:
            line, column = node.lc.line, node.lc.col
        elif isinstance(node, CommentedMap):
            line, column = node.lc.value(key) if key in node else node.lc.key(key)
        elif isinstance(node, CommentedSeq):
            line, column = node.lc.item(key)
        else:
            line, column = node.lc.line, node.lc.col
    except (AttributeError, KeyError, TypeError):
        return Position(path, 1, 1)
    return Position(path, line + 1, column + 1)


def key_position(node: CommentedMap, key, *, path: str) -> Position:
    """Return the position of a mapping key itself (for 'unknown key' messages)."""
    try:
        line, column = node.lc.key(key)
    except (AttributeError, KeyError, TypeError):
        return position(node, path=path)
    return Position(path, line + 1, column + 1)
