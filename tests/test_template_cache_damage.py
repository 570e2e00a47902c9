"""Compiled-template cache entries that are damaged or cannot be written.

A cache is only a shortcut: whatever state its folders are in, letters must come from
the project's current templates and no pass may fail because of it. Each test points
Jinja's per-user cache folder at its own temporary folder, so it neither reads nor
damages the cache other processes on the machine share.
"""

from __future__ import annotations

import marshal
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest
from jinja2.bccache import bc_magic
from mail_factories import make_rules, templates_dir

from engine.mail.render import LetterRenderer
from engine.mail.samples import sample_context

NAME = "reminder_level1"


@pytest.fixture
def user_cache(tmp_path, monkeypatch) -> Path:
    """Return the per-user cache folder Jinja uses in this test."""
    temporary = tmp_path / "user-temp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    return temporary / f"_jinja2-cache-{os.getuid()}"


@pytest.fixture
def templates(tmp_path) -> Path:
    folder = tmp_path / "project" / "templates"
    shutil.copytree(templates_dir(), folder)
    return folder


def render_reminder(templates: Path, cache: Path) -> tuple[str, str, str | None]:
    rules = make_rules()
    context = sample_context(NAME, "en", rules)
    renderer = LetterRenderer(templates, rules, cache_dir=cache)
    return renderer.render_parts(NAME, "en", context, "the letter")


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("__jinja2_*.cache"))


def damage(folder: Path, content: bytes | None = None, size: int | None = None):
    for entry in entries(folder):
        if content is not None:
            entry.write_bytes(content)
        else:
            with entry.open("r+b") as stream:
                stream.truncate(size)


def entry_without_code(entry: Path) -> bytes:
    """Return the bytes of `entry` with its code replaced by a marshalled integer."""
    data = entry.read_bytes()
    checksum_start = len(bc_magic)
    checksum = pickle.loads(data[checksum_start:])
    return bc_magic + pickle.dumps(checksum, 2) + marshal.dumps(5)


@pytest.mark.parametrize("size", [0, 5, 20, 40, 64, 70, 200])
def test_truncated_project_entries(templates, tmp_path, user_cache, size):
    cache = tmp_path / "project" / "cache"
    expected = render_reminder(templates, cache)
    shutil.rmtree(user_cache)
    damage(cache, size=size)

    assert LetterRenderer(templates, make_rules(), cache_dir=cache).check() == []
    assert render_reminder(templates, cache) == expected


@pytest.mark.parametrize("size", [0, 20, 64])
def test_truncated_user_entries(templates, tmp_path, user_cache, size):
    expected = render_reminder(templates, tmp_path / "first")
    damage(user_cache, size=size)

    second = tmp_path / "second"
    assert LetterRenderer(templates, make_rules(), cache_dir=second).check() == []
    assert render_reminder(templates, second) == expected


def test_damaged_entry_rewritten(templates, tmp_path, user_cache):
    cache = tmp_path / "cache"
    render_reminder(templates, cache)
    good = {entry.name: entry.read_bytes() for entry in entries(cache)}
    damage(cache, size=20)
    shutil.rmtree(user_cache)

    LetterRenderer(templates, make_rules(), cache_dir=cache).check()

    for name, content in good.items():
        assert (cache / name).read_bytes() == content, name


def test_entry_without_code_ignored(templates, tmp_path, user_cache):
    cache = tmp_path / "cache"
    expected = render_reminder(templates, cache)
    for entry in entries(cache):
        entry.write_bytes(entry_without_code(entry))
    shutil.rmtree(user_cache)

    assert LetterRenderer(templates, make_rules(), cache_dir=cache).check() == []
    assert render_reminder(templates, cache) == expected


def test_garbage_entries_ignored(templates, tmp_path, user_cache):
    cache = tmp_path / "cache"
    expected = render_reminder(templates, cache)
    # The checksum unpickles to a function object, which matches no checksum.
    damage(cache, content=bc_magic + b"\x80\x02cos\nsystem\nq\x00.")
    shutil.rmtree(user_cache)

    assert render_reminder(templates, cache) == expected


def test_cache_folder_not_creatable(templates, tmp_path, user_cache):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the cache folder's parent should be")

    renderer = LetterRenderer(templates, make_rules(), cache_dir=blocker / "cache")

    assert renderer.check() == []


def test_entry_not_copyable_to_project(templates, tmp_path, user_cache):
    render_reminder(templates, tmp_path / "first")
    cache = tmp_path / "second"
    renderer = LetterRenderer(templates, make_rules(), cache_dir=cache)
    # A file in place of the folder makes each copy from the per-user cache fail, as
    # a read-only folder does for a user other than root.
    cache.rmdir()
    cache.write_text("not a folder")

    assert renderer.check() == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_project_cache(templates, tmp_path, user_cache):
    render_reminder(templates, tmp_path / "first")
    cache = tmp_path / "second"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        assert LetterRenderer(templates, make_rules(), cache_dir=cache).check() == []
    finally:
        cache.chmod(0o755)


def test_same_name_other_text_per_project(tmp_path, user_cache):
    first = tmp_path / "first" / "templates"
    second = tmp_path / "second" / "templates"
    shutil.copytree(templates_dir(), first)
    shutil.copytree(templates_dir(), second)
    path = second / "en" / "reminder_level1.subject.j2"
    path.write_text("Second project: " + path.read_text(encoding="utf-8"), "utf-8")

    first_subject = render_reminder(first, tmp_path / "first" / "cache")[0]
    second_subject = render_reminder(second, tmp_path / "second" / "cache")[0]
    again = render_reminder(first, tmp_path / "first" / "cache")[0]

    assert not first_subject.startswith("Second project: ")
    assert second_subject.startswith("Second project: ")
    assert again == first_subject


def test_edit_between_passes_same_size(templates, tmp_path, user_cache):
    cache = tmp_path / "cache"
    path = templates / "en" / "reminder_level1.subject.j2"
    path.write_text("AAAA {{ customer.company }}", encoding="utf-8")
    stat = path.stat()
    assert render_reminder(templates, cache)[0].startswith("AAAA ")

    path.write_text("BBBB {{ customer.company }}", encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    assert render_reminder(templates, cache)[0].startswith("BBBB ")
