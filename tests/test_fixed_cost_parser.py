"""rule-engine's parser runs on the shipped tables, which equal the ones PLY builds."""

from __future__ import annotations

import subprocess
import sys

from engine.rules import parsetab
from engine.rules.parser_tables import (
    REGENERATE,
    grammar_signature,
    import_rule_engine,
)
from tests.conftest import ROOT


def test_shipped_tables_match_installed_grammar():
    assert parsetab._lr_signature == grammar_signature(), (
        "engine/rules/parsetab.py was generated from another rule-engine grammar; "
        f"run '{REGENERATE}' and commit the file."
    )


def test_shipped_tables_equal_the_built_ones():
    rule_engine = import_rule_engine()
    from rule_engine.parser import Parser

    built = Parser()._parser  # no table module under PLY's name: PLY builds them

    assert built.action == parsetab._lr_action
    # PLY's table file leaves out the states without a goto.
    assert {
        state: goto for state, goto in built.goto.items() if goto
    } == parsetab._lr_goto
    assert [(p.str, p.name, p.len, p.func) for p in built.productions] == [
        (p.str, p.name, p.len, p.func)
        for p in rule_engine.Rule.parser._parser.productions
    ]


CHECK_IMPORT = """
import sys
from engine.rules.expressions import ConditionError, compile_condition
from engine.rules.parser_tables import PLY_TABLE_MODULE, shipped_tables_used

assert shipped_tables_used()
assert PLY_TABLE_MODULE not in sys.modules
assert compile_condition("days_overdue >= 30")({"days_overdue": 31})
try:
    compile_condition("days_overdue >")
except ConditionError as error:
    print(error.message, error.offset)
try:
    compile_condition("days_overdue > > 3")
except ConditionError as error:
    print(error.message, error.offset)
"""


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter, so rule-engine is imported anew."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_engine_imports_rule_engine_with_shipped_tables():
    completed = run_python(CHECK_IMPORT)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "condition 'days_overdue >' ends too early. 14",
        "syntax error at '>' in condition 'days_overdue > > 3'. 15",
    ]


STALE_TABLES = """
import logging
import sys
import types

import engine.rules
from engine.rules import parsetab

stale = types.ModuleType("engine.rules.parsetab")
stale.__dict__.update(vars(parsetab))
stale._lr_signature = "a grammar of an older rule-engine"
sys.modules["engine.rules.parsetab"] = stale
engine.rules.parsetab = stale
logging.basicConfig(level=logging.DEBUG, format="%(name)s %(message)s")

from engine.rules.expressions import compile_condition
from engine.rules.parser_tables import shipped_tables_used

assert not shipped_tables_used()
assert compile_condition("days_overdue >= 30")({"days_overdue": 31})
"""


def test_stale_tables_rebuilt_by_ply():
    completed = run_python(STALE_TABLES)

    assert completed.returncode == 0, completed.stderr
    version = import_rule_engine().__version__
    assert (
        f"engine.rules.parser_tables rule-engine {version} has another grammar than "
        "parsetab.py, so PLY built the parser tables. Run "
        "'python -m engine.rules.parser_tables' to regenerate them"
    ) in completed.stderr
