"""The example letters in docs/examples/ can be regenerated from the project."""

from __future__ import annotations

from pathlib import Path

from engine.mail.examples import write_examples

ROOT = Path(__file__).resolve().parent.parent


def test_examples_regenerate(tmp_path):
    written = write_examples(ROOT, tmp_path)
    names = {path.relative_to(tmp_path).as_posix() for path in written}
    for language in ("en", "de", "fr", "es", "pt"):
        for level in (1, 2, 3):
            assert f"{language}/reminder_level{level}.txt" in names
            assert f"{language}/reminder_level{level}.html" in names
    assert "digest_manager.txt" in names
    german = (tmp_path / "de" / "reminder_level2.txt").read_text(encoding="utf-8")
    assert german.startswith("Subject: Zahlungserinnerung (2. Mahnung) – Rechnung ")
    committed = {
        p.relative_to(ROOT / "docs" / "examples").as_posix()
        for p in (ROOT / "docs" / "examples").rglob("*.*")
    }
    assert names <= committed
