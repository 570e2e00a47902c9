"""A cache of the checked workbook map, keyed by the map file's bytes.

Reading `rules/workbooks.yaml` with ruamel.yaml and checking its locales with Babel
takes longer than the rest of a pass that finds its input unchanged. A map that
passed every check is therefore stored as JSON in `.arrears-guard-cache/` in the
project folder. It is used while these equal the stored ones: the file's sha256,
its path, the project folder, the source of the modules that check the map
(`engine/workbook_map*.py`) and the map's field names. The entry also stores the sha256 of the encoded
map, so an entry edited by hand, or decoded into something else, is ignored and the
map is read and checked again.

The cache lives in the project folder, not under `rules/`, because the service
treats every file under `rules/` as a rule edit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import os
from pathlib import Path

from engine.workbook_map import SourceMap, WorkbookMap, years_after

log = logging.getLogger(__name__)

CACHE_FOLDER = ".arrears-guard-cache"
CACHE_NAME = "workbook-map.json"
FORMAT = 1
PATH_FIELDS = ("path", "root", "folder", "report", "outbox", "state")


def cache_path(root: Path) -> Path:
    return root / CACHE_FOLDER / CACHE_NAME


@functools.cache
def checker_digest() -> str:
    """Return the sha256 of the modules that read and check the workbook map.

    A change to any of them, such as a new check, makes every stored entry stale.
    """
    digest = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("workbook_map*.py")):
        digest.update(module.name.encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()


def map_digest(encoded: dict) -> str:
    """Return the sha256 of an encoded map, the same for equal maps."""
    text = json.dumps(encoded, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(path: Path, root: Path, raw: bytes) -> dict:
    """Return what a stored map must match to stand for the map file's `raw` bytes."""
    return {
        "format": FORMAT,
        "checker": checker_digest(),
        "fields": [
            [f.name for f in dataclasses.fields(WorkbookMap)],
            [f.name for f in dataclasses.fields(SourceMap)],
        ],
        "path": str(path),
        "root": str(root),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }


def load(path: Path, root: Path, raw: bytes | None) -> WorkbookMap | None:
    """Return the cached map for these bytes, or None when there is no usable entry."""
    if raw is None:
        return None
    try:
        stored = json.loads(cache_path(root).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != cache_key(path, root, raw):
        return None
    encoded = stored.get("map")
    if not isinstance(encoded, dict) or stored.get("map_sha256") != map_digest(encoded):
        log.info("workbook map cache %s was not written by this engine; checking the "
                 "map again", cache_path(root))
        return None
    try:
        workbook_map = decode_map(encoded)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.info("workbook map cache %s not used: %s", cache_path(root), exc)
        return None
    if encode_map(workbook_map) != encoded:
        log.info("workbook map cache %s does not decode to the stored map; checking the "
                 "map again", cache_path(root))
        return None
    return workbook_map


def store(workbook_map: WorkbookMap, raw: bytes | None) -> None:
    """Write the checked map for these bytes; a folder that cannot be written is skipped."""
    if raw is None:
        return
    target = cache_path(workbook_map.root)
    encoded = encode_map(workbook_map)
    entry = {
        "key": cache_key(workbook_map.path, workbook_map.root, raw),
        "map": encoded,
        "map_sha256": map_digest(encoded),
    }
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(exist_ok=True)
        ignore_file = target.parent / ".gitignore"
        if not ignore_file.exists():
            ignore_file.write_text("# Created by arrears-guard.\n*\n", encoding="utf-8")
        temporary.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        log.debug("workbook map cache %s not written: %s", target, exc)
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass  # the folder is missing or is not a folder


def encode_map(workbook_map: WorkbookMap) -> dict:
    data = {}
    for field in dataclasses.fields(WorkbookMap):
        value = getattr(workbook_map, field.name)
        if field.name in PATH_FIELDS:
            value = str(value)
        elif field.name == "sources":
            value = {kind: encode_source(source) for kind, source in value.items()}
        elif isinstance(value, tuple):
            value = list(value)
        data[field.name] = value
    return data


def encode_source(source: SourceMap) -> dict:
    data = {}
    for field in dataclasses.fields(SourceMap):
        value = getattr(source, field.name)
        if field.name == "date_window":
            # Only the start is stored: the end moves with today's date.
            value = value[0].isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        data[field.name] = value
    return data


def decode_map(data: dict) -> WorkbookMap:
    values = dict(data)
    for name in PATH_FIELDS:
        values[name] = Path(values[name])
    values["sources"] = {
        kind: decode_source(source) for kind, source in values["sources"].items()
    }
    values["date_formats"] = tuple(values["date_formats"])
    return WorkbookMap(**values)


def decode_source(data: dict) -> SourceMap:
    values = dict(data)
    earliest = dt.date.fromisoformat(values["date_window"])
    # The same end as the map check computes when it reads the file today.
    values["date_window"] = (earliest, years_after(dt.date.today(), values["years_ahead"]))
    values["date_formats"] = tuple(values["date_formats"])
    return SourceMap(**values)
