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
    """Run the decision rules on `values`; raise RuleEvaluationError on a failure.

    Which rules were tried and which of them matched fix the result, so each result
    is made once per rule set and shared by every order that matched the same way.
    """
    return decision_table(rules).run(values)


class DecisionTable:
    """A rule set's decision rules ready to run, with the results made so far."""

    __slots__ = ("default", "results", "rule_set", "rules", "steps")

    def __init__(self, rules: RuleSet):
        self.rule_set = rules
        self.rules = rules.decision_rules
        self.default = rules.default_outcome
        # (evaluator, whether a match ends the search, rule) for each rule in order.
        self.steps = tuple(
            (rule.condition.evaluate, rule.outcome != "warn", rule)
            for rule in rules.decision_rules
        )
        self.results: dict[tuple[int, int], TableResult] = {}

    def run(self, values: dict[str, Any]) -> TableResult:
        """Run the rules on `values`; raise RuleEvaluationError on a failure."""
        tried = matched = 0  # rules tried, and bit i set when rule i matched
        try:
            for evaluate, ends, rule in self.steps:
                if evaluate(values):
                    matched |= 1 << tried
                    tried += 1
                    if ends:
                        break
                else:
                    tried += 1
        except (ArithmeticError, TypeError, KeyError) as error:
            raise RuleEvaluationError(self.steps[tried][2], error) from error
        key = (tried, matched)
        result = self.results.get(key)
        if result is None:
            result = self.results[key] = _result(self.rule_set, tried, matched)
        return result


_tables: dict[int, DecisionTable] = {}


def decision_table(rules: RuleSet) -> DecisionTable:
    """Return the rule set's decision table, built once per rule set."""
    table = _tables.get(id(rules))
    if (
        table is None
        or table.rules is not rules.decision_rules
        or table.default != rules.default_outcome
    ):
        if len(_tables) > 64:
            _tables.clear()
        table = _tables[id(rules)] = DecisionTable(rules)
    return table


def _result(rules: RuleSet, tried: int, matched: int) -> TableResult:
    matches = tuple(bool(matched >> index & 1) for index in range(tried))
    warning = next(
        (
            rule
            for rule, hit in zip(rules.decision_rules, matches)
            if hit and rule.outcome == "warn"
        ),
        None,
    )
    last = rules.decision_rules[tried - 1] if tried else None
    if last is not None and matches[-1] and last.outcome != "warn":
        return TableResult(last.outcome, last, warning, matches)
    return TableResult(rules.default_outcome, None, warning, matches)


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
