"""The engine.mail package's names, imported on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import engine.mail


def test_every_export_resolves():
    for name in engine.mail.__all__:
        assert getattr(engine.mail, name) is not None, name


def test_exports_match_submodule_table():
    assert sorted(engine.mail.__all__) == sorted(engine.mail._EXPORTS)


def test_deliver_stays_function_after_submodule_import():
    import engine.mail.delivery

    assert callable(engine.mail.deliver)
    assert engine.mail.deliver is engine.mail.delivery.deliver


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        engine.mail.no_such_name  # noqa: B018


def test_ledger_import_skips_templates_and_smtp():
    code = (
        "import sys, engine.mail.ledger; "
        "print(sorted(m for m in ('jinja2', 'babel', 'yagmail') if m in sys.modules))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True,
                               text=True, check=True)
    assert completed.stdout.strip() == "[]"
