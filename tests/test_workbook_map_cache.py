"""The workbook map cache: used while the map file's bytes are unchanged."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from engine.findings import EngineError
from engine.project import Project
from engine.workbook_map import load_workbook_map, years_after
from engine.workbook_map_cache import cache_path, checker_digest, map_digest
from engine.workbook_map_check import build_workbook_map


@pytest.fixture
def project(demo_project) -> Project:
    return Project.at(demo_project)


def load(project: Project):
    return load_workbook_map(project.workbook_map_path, project.root)


def test_cached_map_equals_checked_map(project):
    checked, findings = build_workbook_map(project.workbook_map_path, project.root)

    first = load(project)
    second = load(project)

    assert findings == []
    assert cache_path(project.root).is_file()
    assert first == checked
    assert second == checked


def test_cache_folder_ignored_by_git(project):
    load(project)

    ignore = cache_path(project.root).parent / ".gitignore"
    assert ignore.read_text(encoding="utf-8").splitlines()[-1] == "*"


def test_cache_entry_used_while_bytes_match(project):
    load(project)
    path = cache_path(project.root)
    entry = json.loads(path.read_text(encoding="utf-8"))
    entry["map"]["sources"]["orders"]["sheet"] = "From the cache"
    entry["map_sha256"] = map_digest(entry["map"])
    path.write_text(json.dumps(entry), encoding="utf-8")

    assert load(project).sources["orders"].sheet == "From the cache"


def edit_entry(project: Project, change) -> None:
    """Apply `change` to the stored map, leaving the stored sha256 as it was."""
    path = cache_path(project.root)
    entry = json.loads(path.read_text(encoding="utf-8"))
    change(entry)
    path.write_text(json.dumps(entry), encoding="utf-8")


def test_entry_without_orders_is_checked_again(project):
    load(project)
    edit_entry(project, lambda entry: entry["map"]["sources"].pop("orders"))

    loaded = load(project)

    assert loaded.sources["orders"].sheet == "Orders"
    stored = json.loads(cache_path(project.root).read_text(encoding="utf-8"))
    assert "orders" in stored["map"]["sources"]


def test_entry_with_text_header_row_is_checked_again(project):
    load(project)
    edit_entry(project, lambda entry: entry["map"]["sources"]["orders"].update(
        header_row="abc"))

    assert load(project).sources["orders"].header_row is None


def test_entry_with_recomputed_bad_types_is_checked_again(project):
    load(project)

    def change(entry):
        entry["map"]["sources"]["orders"]["date_window"] = 5
        entry["map_sha256"] = map_digest(entry["map"])

    edit_entry(project, change)

    assert load(project).sources["orders"].date_window[0] == dt.date(2000, 1, 1)


def test_entry_without_digest_is_checked_again(project):
    load(project)
    edit_entry(project, lambda entry: entry.pop("map_sha256"))
    edit_entry(project, lambda entry: entry["map"]["sources"]["orders"].update(
        sheet="From the cache"))

    assert load(project).sources["orders"].sheet == "Orders"


def test_entry_from_other_checker_is_checked_again(project):
    load(project)

    def change(entry):
        assert entry["key"]["checker"] == checker_digest()
        entry["key"]["checker"] = "0" * 64
        entry["map"]["sources"]["orders"]["sheet"] = "From the cache"
        entry["map_sha256"] = map_digest(entry["map"])

    edit_entry(project, change)

    assert load(project).sources["orders"].sheet == "Orders"


def test_edited_map_is_checked_again(project):
    load(project)
    path = cache_path(project.root)
    entry = json.loads(path.read_text(encoding="utf-8"))
    entry["map"]["sources"]["orders"]["sheet"] = "From the cache"
    path.write_text(json.dumps(entry), encoding="utf-8")
    text = project.workbook_map_path.read_text(encoding="utf-8")
    project.workbook_map_path.write_text(text + "# edited\n", encoding="utf-8")

    assert load(project).sources["orders"].sheet == "Orders"


def test_broken_map_raises_despite_cache(project):
    load(project)
    text = project.workbook_map_path.read_text(encoding="utf-8")
    project.workbook_map_path.write_text(text.replace("version: 1", "version: 9"),
                                         encoding="utf-8")

    with pytest.raises(EngineError) as caught:
        load(project)

    assert "unknown version 9" in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"{not json", b"[]", b'{"key": 1}'])
def test_damaged_cache_is_replaced(project, content):
    path = cache_path(project.root)
    path.parent.mkdir()
    path.write_bytes(content)

    loaded = load(project)

    assert loaded.sources["orders"].sheet == "Orders"
    assert json.loads(path.read_text(encoding="utf-8"))["map"]["state"] == str(
        loaded.state)


def test_entry_with_wrong_fields_is_checked_again(project):
    load(project)
    path = cache_path(project.root)
    entry = json.loads(path.read_text(encoding="utf-8"))
    del entry["map"]["sources"]["orders"]["columns"]
    path.write_text(json.dumps(entry), encoding="utf-8")

    assert load(project).sources["orders"].columns["order_id"] == "Order ID"


def test_unwritable_cache_folder_still_loads(project):
    (project.root / ".arrears-guard-cache").write_text("a file, not a folder")

    loaded = load(project)

    assert loaded.sources["payments"].sheet == "Payments"


def test_cached_date_window_ends_from_today(project):
    load(project)

    window = load(project).sources["orders"].date_window

    assert window[0] == dt.date(2000, 1, 1)
    assert window[1] == years_after(dt.date.today(), 20)
