"""The example letters in docs/examples/ come from a real pass on the demo workbooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.mail.examples import write_examples

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> tuple[Path, set[str]]:
    output = tmp_path_factory.mktemp("examples")
    written = write_examples(ROOT, output)
    return output, {path.relative_to(output).as_posix() for path in written}


def test_examples_cover_demo_levels(regenerated):
    _, names = regenerated
    assert {
        "de/reminder_level1.txt",
        "de/reminder_level3.txt",
        "es/reminder_level3.html",
        "fr/reminder_level1.txt",
        "pt/reminder_level1.txt",
    } <= names
    assert {
        "digest_manager.txt",
        "digest_manager.html",
        "digest_manager_aging.png",
    } <= names


def test_examples_match_committed(regenerated):
    output, names = regenerated
    committed = {
        path.relative_to(EXAMPLES).as_posix()
        for path in EXAMPLES.rglob("*.*")
        if path.name != "README.md"
    }
    assert names == committed
    for name in sorted(names):
        if name.endswith((".txt", ".html")) and not name.startswith("digest_"):
            fresh = (output / name).read_text(encoding="utf-8")
            assert fresh == (EXAMPLES / name).read_text(encoding="utf-8"), name


def test_example_letter_text(regenerated):
    output, _ = regenerated
    german = (output / "de" / "reminder_level3.txt").read_text(encoding="utf-8")
    digest = (output / "digest_manager.html").read_text(encoding="utf-8")
    assert german.startswith("Subject: ")
    assert "\n\n" in german
    assert 'src="digest_manager_aging.png"' in digest
    assert "cid:" not in digest
