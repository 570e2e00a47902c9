"""Running the ordered decision table of credit.yaml on one set of field values.

Rules are tried top to bottom and the first 'approve' or 'block' rule that matches
ends the search. A matching 'warn' rule does not end it, because a later 'block' rule
always beats a warning: the order is blocked if any later block rule matches, and
otherwise approved with the warning. When nothing but warnings matched, the default
outcome applies with the warning kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.rules import fields as catalogue
from engine.rules.model import DecisionRule, RuleSet


@dataclass(frozen=True, slots=True)
class TableResult:
    outcome: str  # "approve" or "block"
    rule: DecisionRule | None  # the rule that decided; None for the default
    warning: DecisionRule | None  # the first warn rule that matched
    # Whether each rule tried matched; the rules tried are the first len(matches).
    matches: tuple[bool, ...]


class RuleEvaluationError(Exception):
    """A rule whose condition failed on these values (for example a division by 0)."""

    def __init__(self, rule: DecisionRule, error: Exception):
        super().__init__(f"rule '{rule.name}' ({rule.where}) failed: {error!r}")
        self.rule = rule
        self.error = error


def run_table(rules: RuleSet, values: dict[str, Any]) -> TableResult:
    """Run the decision rules on `values`; raise RuleEvaluationError on a failure."""
    matches = []
    warning = None
    for rule in rules.decision_rules:
        try:
            matched = bool(rule.condition.evaluate(values))
        except (ArithmeticError, TypeError, KeyError) as error:
            raise RuleEvaluationError(rule, error) from error
        matches.append(matched)
        if not matched:
            continue
        if rule.outcome == "warn":
            if warning is None:
                warning = rule
            continue
        return TableResult(rule.outcome, rule, warning, tuple(matches))
    return TableResult(rules.default_outcome, None, warning, tuple(matches))


def neutral_values() -> dict[str, Any]:
    """Return every fixed field at a neutral value: 0, '' or false."""
    values: dict[str, Any] = {}
    for field in catalogue.FIELDS.values():
        if field.kind in (catalogue.MONEY, catalogue.NUMBER):
            values[field.name] = Decimal(0)
        elif field.kind == catalogue.FLAG:
            values[field.name] = False
        else:
            values[field.name] = ""
    return values


def outcome_name(result: TableResult) -> str:
    """Return approve, warn or block: the outcome as examples write it."""
    if result.outcome == "approve" and result.warning is not None:
        return "warn"
    return result.outcome
