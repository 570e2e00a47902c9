"""Checking every rule file of a project before its rules take effect.

`check_project` reads rules/credit.yaml, rules/dunning.yaml and the workbook map,
runs the examples written in credit.yaml, reads the mapped workbooks and compiles
the templates, and returns the findings of all files at once. `load_rules` returns
the RuleSet only when there is no error.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from engine.findings import EngineError, Finding, Severity
from engine.rules.credit import Example, read_credit
from engine.rules.dunning import read_dunning
from engine.rules.model import RuleSet
from engine.rules.reader import RuleFile
from engine.rules.table import (
    RuleEvaluationError,
    neutral_values,
    outcome_name,
    run_table,
)
from engine.yamlfile import display_path, load_yaml

logger = logging.getLogger(__name__)

CREDIT = "rules/credit.yaml"
DUNNING = "rules/dunning.yaml"
WORKBOOKS = "rules/workbooks.yaml"


def check_project(root: Path, rules_dir: Path | None = None) -> list[Finding]:
    """Check the rule files, the workbook map, the workbooks and the templates.

    Each mapped workbook is read to find its sheet and headers, and the currencies
    of its rows are checked against the FX table. Every template of every language
    folder is compiled. `rules_dir` names a draft folder whose credit.yaml and
    dunning.yaml are checked in place of the project's own.
    """
    findings, rules = _read_rules(root, rules_dir)
    map_findings = _check_workbook_map(root)
    findings.extend(map_findings)
    if rules is not None:
        findings.extend(_check_templates(root, rules))
    if not _has_errors(map_findings):
        findings.extend(_check_workbooks(root, rules))
    return findings


def _check_templates(root: Path, rules: RuleSet) -> list[Finding]:
    from engine.mail.render import LetterRenderer

    return LetterRenderer(root / "templates", rules).check()


def _check_workbooks(root: Path, rules: RuleSet | None) -> list[Finding]:
    """Read the mapped workbooks; return whole-file faults and currency gaps."""
    from engine.inputs import read_inputs
    from engine.rules.currencies import check_currencies
    from engine.workbook_map import load_workbook_map

    try:
        workbook_map = load_workbook_map(root / WORKBOOKS, root)
        inputs, _reads, _findings = read_inputs(workbook_map)
    except EngineError as exc:
        return list(exc.findings)
    if rules is None:
        return []
    return check_currencies(rules, inputs).findings


def load_rules(root: Path, rules_dir: Path | None = None) -> RuleSet:
    """Return the checked rule set of the project; raise EngineError on any error.

    `rules_dir` names a draft folder to read credit.yaml and dunning.yaml from.
    """
    findings, rules = _read_rules(root, rules_dir)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors or rules is None:
        raise EngineError(errors or findings)
    for finding in findings:
        logger.warning("%s", finding)
    return rules


def format_findings(findings: list[Finding]) -> str:
    """Return the findings as `file:line:column: message. fix` lines, in file order."""
    return "\n".join(str(finding) for finding in sorted(findings, key=_finding_order))


def _finding_order(finding: Finding):
    parts = finding.where.split(":")
    numbers = [int(p) if p.isdigit() else 0 for p in parts[1:3]]
    return (parts[0], *numbers, finding.message)


def _read_rules(
    root: Path, rules_dir: Path | None = None
) -> tuple[list[Finding], RuleSet | None]:
    findings: list[Finding] = []
    credit_data = _load(root, CREDIT, findings, rules_dir)
    dunning_data = _load(root, DUNNING, findings, rules_dir)
    settings: dict = {}
    examples: list[Example] = []
    sources = {}
    if credit_data is not None:
        credit_file, text = credit_data
        credit, examples = read_credit(text, credit_file)
        settings.update(credit)
        sources[CREDIT] = credit_file.sha256
    if dunning_data is not None:
        dunning_file, text = dunning_data
        templates = root / "templates"
        settings.update(read_dunning(text, dunning_file, templates))
        sources[DUNNING] = dunning_file.sha256
    if credit_data is None or dunning_data is None or _has_errors(findings):
        return findings, None
    rules = RuleSet(sources=sources, **settings)
    findings.extend(run_examples(rules, examples))
    return findings, rules


def _has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def _load(root: Path, name: str, findings: list[Finding], rules_dir: Path | None = None):
    path = root / name
    if rules_dir is not None:
        path = rules_dir / Path(name).name
        name = display_path(path, root)
    try:
        data = load_yaml(path, shown_as=name)
    except EngineError as exc:
        findings.extend(exc.findings)
        return None
    raw = path.read_bytes()
    rule_file = RuleFile(name, raw.decode("utf-8"), findings)
    rule_file.sha256 = hashlib.sha256(raw).hexdigest()
    return rule_file, data


def run_examples(rules: RuleSet, examples: list[Example]) -> list[Finding]:
    """Run the examples of credit.yaml; return a finding for each that fails."""
    findings = []
    for example in examples:
        values = neutral_values()
        values.update(example.given)
        for window in rules.late_payment_windows:
            values.setdefault(f"late_payments_{window[0]}d_{window[1]}d", 0)
        try:
            result = run_table(rules, values)
        except RuleEvaluationError as exc:
            findings.append(
                Finding(
                    example.where,
                    f"example '{example.name}' failed: {exc}.",
                    "Fix the rule or the example's values.",
                )
            )
            continue
        got = outcome_name(result)
        # An approval with a warning has two rules: the one that approved and the
        # one that warned. An example may name either.
        rule_names = [rule.name for rule in (result.rule, result.warning) if rule]
        got_rules = rule_names or ["the default"]
        if got != example.expect or (example.rule and example.rule not in got_rules):
            expected = example.expect + (
                f" by rule '{example.rule}'" if example.rule else ""
            )
            findings.append(
                Finding(
                    example.where,
                    f"example '{example.name}' expects {expected}, "
                    f"but the rules give {got} by {_rules_label(result)}.",
                    "Fix the rules or the example; the rules are not applied until "
                    "every example passes.",
                    code="example",
                )
            )
    return findings


def _rules_label(result) -> str:
    """Return the rules behind a table result, as a failed example names them."""
    if result.rule and result.warning and result.rule is not result.warning:
        return (f"rule '{result.rule.name}', with the warning of rule "
                f"'{result.warning.name}'")
    decided_by = result.rule or result.warning
    return f"rule '{decided_by.name}'" if decided_by else "the default"


def _check_workbook_map(root: Path) -> list[Finding]:
    try:
        from engine.workbook_map import check_workbook_map
    except ImportError:
        logger.info("engine.workbook_map is not available; workbook map not checked")
        return []
    return list(check_workbook_map(root / WORKBOOKS, root))
