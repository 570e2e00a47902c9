"""Reading rules/credit.yaml: limits, FX rates, approvers and the decision table.

The file's format is documented for finance in docs/rules.md. `read_credit` returns
the settings as keyword arguments for RuleSet plus the examples to run, and appends a
finding for every mistake it meets instead of stopping at the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.numbers import list_currencies

from engine.rules import fields as catalogue
from engine.rules.expressions import ConditionError, compile_condition, contradiction
from engine.rules.model import (
    DecisionRule,
    LimitAdjustment,
    RatingBand,
    SalespersonLimit,
)
from engine.rules.reader import RuleFile, describe

TOP_LEVEL = (
    "version", "base_currency", "timezone", "locale", "fx", "ratings",
    "default_rating", "limit_adjustments", "salesperson_limits", "warning",
    "approvers", "rules", "default", "examples",
)  # fmt: skip
OUTCOMES = ("approve", "warn", "block")
ROLES = ("salesperson", "finance", "manager")
HOLD = "hold"
APPROVER = re.compile(r"[^\W\d_]+(?:[ .'\-][^\W\d_]+)*\.?")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Placeholders a reason may use besides the fields: how the limit was derived, the
# FX note for orders in another currency and the warning threshold as a percentage.
EXTRA_PLACEHOLDERS = ("limit_how", "fx_note", "warning_percent")


@dataclass(frozen=True, slots=True)
class Example:
    """An example from the rule file: field values and the outcome they must give."""

    name: str
    given: dict[str, Any]
    expect: str  # approve, warn or block
    rule: str | None
    where: str


def read_credit(data, rule_file: RuleFile) -> tuple[dict[str, Any], list[Example]]:
    """Read a loaded credit.yaml; return RuleSet keyword arguments and examples."""
    settings: dict[str, Any] = {"where": {}}
    if not isinstance(data, dict):
        rule_file.error(
            rule_file.shown,
            f"the file must be a mapping of settings, found {describe(data)}.",
            "Start from the shipped rules/credit.yaml.",
        )
        return settings, []
    rule_file.check_keys(data, TOP_LEVEL, "credit rules")
    check_version(data, rule_file)

    base = read_currency(data, "base_currency", rule_file)
    settings["base_currency"] = base or "USD"
    settings["timezone"] = read_timezone(data, rule_file)
    settings["locale"] = read_locale(data, rule_file)
    settings["fx_rates"] = read_fx(data, rule_file, settings["base_currency"])
    bands = read_ratings(data, rule_file)
    settings["rating_bands"] = bands
    settings["default_rating"] = read_default_rating(data, rule_file, bands)
    settings["where"]["default_rating"] = rule_file.where(data, "default_rating")
    settings["adjustments"] = read_adjustments(data, rule_file)
    settings["salesperson_limits"] = read_salesperson_limits(data, rule_file)
    settings["warning_threshold"], settings["warning_notify"] = read_warning(
        data, rule_file
    )
    settings["approvers"] = read_approvers(data, rule_file)
    settings["decision_rules"] = read_decision_rules(data, rule_file)
    settings["default_outcome"] = read_default(data, rule_file)
    settings["where"]["default"] = rule_file.where(data, "default")
    windows = set()
    for item in (*settings["adjustments"], *settings["decision_rules"]):
        windows.update(item.condition.late_payment_windows)
    settings["late_payment_windows"] = tuple(sorted(windows))
    return settings, read_examples(data, rule_file, declared_rule_names(data))


def declared_rule_names(data) -> list[str]:
    """Return the names written in 'rules', including rules that failed to read."""
    items = data.get("rules")
    if not isinstance(items, list):
        return []
    return [
        str(item["name"]) for item in items if isinstance(item, dict) and "name" in item
    ]


def check_version(data, rule_file: RuleFile) -> None:
    if "version" not in data:
        rule_file.error(
            f"{rule_file.shown}:1:1",
            "the file has no 'version'.",
            "Add 'version: 1' as its first line.",
            code="missing-version",
        )
    elif data["version"] != 1:
        rule_file.error(
            rule_file.where(data, "version"),
            f"version {data['version']!r} is not supported; this engine reads version 1.",
            "Write 'version: 1'.",
            code="wrong-version",
        )


def read_currency(node, key, rule_file: RuleFile) -> str | None:
    code = rule_file.text(node, key, "credit rules")
    if code is None:
        return None
    return check_currency_code(code, rule_file.where(node, key), rule_file)


def check_currency_code(code: str, where: str, rule_file: RuleFile) -> str | None:
    upper = code.strip().upper()
    if upper not in list_currencies():
        rule_file.error(
            where,
            f"unknown currency code '{code}'.",
            "Use a three-letter ISO 4217 code such as USD or EUR.",
            code="unknown-currency",
        )
        return None
    return upper


def read_timezone(data, rule_file: RuleFile) -> str:
    name = rule_file.text(
        data, "timezone", "credit rules", required=False, default="UTC"
    )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        rule_file.error(
            rule_file.where(data, "timezone"),
            f"unknown time zone '{name}'.",
            "Use an IANA name such as America/New_York or Europe/Berlin.",
            code="unknown-timezone",
        )
        return "UTC"
    return name


def read_locale(data, rule_file: RuleFile) -> str:
    name = rule_file.text(
        data, "locale", "credit rules", required=False, default="en_US"
    )
    try:
        Locale.parse(name)
    except (UnknownLocaleError, ValueError, TypeError):
        rule_file.error(
            rule_file.where(data, "locale"),
            f"unknown locale '{name}'.",
            "Use a locale such as en_US or de_DE.",
            code="unknown-locale",
        )
        return "en_US"
    return name


def read_fx(data, rule_file: RuleFile, base: str) -> dict[str, Decimal]:
    table = rule_file.mapping(data, "fx", "credit rules")
    rates: dict[str, Decimal] = {}
    if table is None:
        return rates
    for code, value in table.items():
        where = rule_file.key_where(table, code)
        checked = check_currency_code(str(code), where, rule_file)
        rate = rule_file.amount_value(
            value, rule_file.where(table, code), f"fx rate of {code}", positive=True
        )
        if checked is None or rate is None:
            continue
        if checked == base:
            rule_file.error(
                where,
                f"'{code}' is the base currency; its rate is always 1.",
                f"Remove the '{code}' line from fx.",
                code="fx-base",
            )
            continue
        rates[checked] = rate
    return rates


def read_ratings(data, rule_file: RuleFile) -> tuple[RatingBand, ...]:
    table = rule_file.mapping(data, "ratings", "credit rules", required=True)
    if table is None:
        return ()
    bands = []
    seen: dict[str, str] = {}
    for rating, value in table.items():
        name = str(rating).strip()
        where = rule_file.key_where(table, rating)
        if name.upper() in seen:
            rule_file.error(
                where,
                f"rating '{name}' is listed twice (also as '{seen[name.upper()]}').",
                "Ratings are matched ignoring case; keep one line per rating.",
                code="duplicate-rating",
            )
            continue
        seen[name.upper()] = name
        limit = rule_file.amount_value(
            value, rule_file.where(table, rating), f"limit of rating {name}", places=2
        )
        if limit is not None:
            bands.append(RatingBand(name, limit, where))
    if not table:
        rule_file.error(
            rule_file.where(data, "ratings"),
            "'ratings' is empty.",
            "List each rating with its limit, such as 'A: 40000'.",
        )
    return tuple(bands)


def read_default_rating(data, rule_file: RuleFile, bands) -> str | None:
    value = rule_file.text(
        data, "default_rating", "credit rules", required=False, default=HOLD
    )
    if value.lower() == HOLD:
        return None
    names = [band.rating for band in bands]
    for name in names:
        if name.upper() == value.upper():
            return name
    guess = catalogue.closest(value, names + [HOLD])
    rule_file.error(
        rule_file.where(data, "default_rating"),
        f"default_rating '{value}' is not one of the ratings "
        f"({', '.join(names) or 'none'}) and not 'hold'.",
        f"Did you mean '{guess}'?" if guess else "Use a listed rating or 'hold'.",
        code="unknown-rating",
    )
    return None


def read_condition(node, key, scope: str, rule_file: RuleFile):
    text = node.get(key)
    if isinstance(text, bool):
        text = "true" if text else "false"
    if not isinstance(text, str):
        rule_file.error(
            rule_file.where(node, key),
            f"'{key}' must be a condition such as 'days_overdue > 60', "
            f"found {describe(text)}.",
            code="wrong-type",
        )
        return None
    try:
        return compile_condition(text, scope)
    except ConditionError as exc:
        if exc.offset is not None and "\n" not in text:
            where = rule_file.value_column_offset(node, key, exc.offset)
        else:
            where = rule_file.where(node, key)
        rule_file.error(where, exc.message, exc.fix, code="condition")
        return None


def read_adjustments(data, rule_file: RuleFile) -> tuple[LimitAdjustment, ...]:
    items = rule_file.sequence(data, "limit_adjustments", "credit rules")
    adjustments = []
    for index, item in enumerate(items or []):
        context = f"limit adjustment {index + 1}"
        if not isinstance(item, dict):
            rule_file.error(
                rule_file.where(items, index),
                f"{context} must be a mapping with name, when and factor.",
            )
            continue
        rule_file.check_keys(item, ("name", "when", "factor"), context)
        name = rule_file.text(item, "name", context)
        factor = rule_file.amount(item, "factor", context)
        if "when" not in item:
            rule_file.missing(item, "when", context)
            continue
        condition = read_condition(item, "when", catalogue.CUSTOMER, rule_file)
        if name and factor is not None and condition is not None:
            adjustments.append(
                LimitAdjustment(name, condition, factor, rule_file.where(items, index))
            )
    return tuple(adjustments)


def read_salesperson_limits(data, rule_file: RuleFile) -> tuple[SalespersonLimit, ...]:
    table = rule_file.mapping(data, "salesperson_limits", "credit rules", required=True)
    if table is None:
        return ()
    context = "salesperson_limits"
    rule_file.check_keys(table, ("default", "exceptions"), context)
    limits = []
    default = rule_file.amount(table, "default", context, places=2)
    if default is not None:
        limits.append(
            SalespersonLimit(None, default, rule_file.where(table, "default"))
        )
    exceptions = rule_file.mapping(table, "exceptions", context)
    for code, value in (exceptions or {}).items():
        amount = rule_file.amount_value(
            value, rule_file.where(exceptions, code), f"limit of salesperson {code}",
            places=2,
        )
        if amount is not None:
            limits.append(
                SalespersonLimit(
                    str(code).strip(), amount, rule_file.key_where(exceptions, code)
                )
            )
    return tuple(limits)


def read_warning(data, rule_file: RuleFile) -> tuple[Decimal, tuple[str, ...]]:
    table = rule_file.mapping(data, "warning", "credit rules")
    if table is None:
        return Decimal("0.8"), ()
    rule_file.check_keys(table, ("threshold", "notify"), "warning")
    threshold = rule_file.fraction(
        table, "threshold", "warning", default=Decimal("0.8")
    )
    notify = read_roles(table, "notify", "warning", rule_file)
    return threshold, notify


def read_roles(node, key, context: str, rule_file: RuleFile) -> tuple[str, ...]:
    roles = rule_file.text_list(node, key, context) or []
    valid = []
    for role in roles:
        if role in ROLES:
            valid.append(role)
            continue
        guess = catalogue.closest(role, ROLES)
        rule_file.error(
            rule_file.where(node, key),
            f"unknown role '{role}' in {context} {key}.",
            f"Did you mean '{guess}'?"
            if guess
            else "Use salesperson, finance or manager.",
            code="unknown-role",
        )
    return tuple(valid)


def read_approvers(data, rule_file: RuleFile) -> tuple[str, ...]:
    names = rule_file.sequence(data, "approvers", "credit rules")
    approvers = []
    for index, name in enumerate(names or []):
        if not isinstance(name, str) or not APPROVER.fullmatch(name.strip()):
            shown = f"'{name}'" if isinstance(name, str) else describe(name)
            rule_file.error(
                rule_file.where(names, index),
                f"approver {shown} is not a person's name.",
                "Write the name exactly as managers type it in the Override Approver "
                "column, such as 'Maria Lopez' (letters, spaces, '.', '-' and ''').",
                code="approver-format",
            )
            continue
        approvers.append(" ".join(name.split()))
    return tuple(approvers)


def read_decision_rules(data, rule_file: RuleFile) -> tuple[DecisionRule, ...]:
    items = rule_file.sequence(data, "rules", "credit rules", required=True)
    rules: list[DecisionRule] = []
    names: set[str] = set()
    always: DecisionRule | None = None
    for index, item in enumerate(items or []):
        where = rule_file.where(items, index)
        context = f"rule {index + 1}"
        if not isinstance(item, dict):
            rule_file.error(
                where, f"{context} must be a mapping with name, when and outcome."
            )
            continue
        rule_file.check_keys(
            item, ("name", "when", "outcome", "reason", "notify"), context
        )
        name = rule_file.text(item, "name", context)
        if name in names:
            rule_file.error(
                rule_file.where(item, "name"),
                f"rule name '{name}' is used twice.",
                "Give each rule its own name.",
                code="duplicate-rule",
            )
        names.add(name)
        outcome = read_outcome(item, "outcome", context, rule_file)
        if "when" not in item:
            rule_file.missing(item, "when", context)
            continue
        condition = read_condition(item, "when", catalogue.ORDER, rule_file)
        reason = read_reason(item, context, rule_file)
        notify = read_roles(item, "notify", context, rule_file)
        if None in (name, outcome, condition):
            continue
        rule = DecisionRule(name, outcome, condition, reason, notify, where)
        check_reachable(rule, always, rule_file)
        if always is None and condition.constant is True and outcome != "warn":
            always = rule
        rules.append(rule)
    return tuple(rules)


def read_outcome(node, key, context: str, rule_file: RuleFile, choices=OUTCOMES):
    value = rule_file.text(node, key, context)
    if value is None:
        return None
    if value in choices:
        return value
    guess = catalogue.closest(value, choices)
    rule_file.error(
        rule_file.where(node, key),
        f"unknown {key} '{value}' in {context}.",
        f"Did you mean '{guess}'?" if guess else f"Use one of: {', '.join(choices)}.",
        code="unknown-outcome",
    )
    return None


def read_reason(item, context: str, rule_file: RuleFile) -> str:
    reason = rule_file.text(item, "reason", context, required=False, default="")
    for match in PLACEHOLDER.finditer(reason):
        name = match.group(1)
        if name in EXTRA_PLACEHOLDERS or catalogue.lookup(name, catalogue.ORDER):
            continue
        guess = catalogue.closest(name, [*catalogue.FIELDS, *EXTRA_PLACEHOLDERS])
        rule_file.error(
            rule_file.value_column_offset(item, "reason", match.start()),
            f"unknown placeholder '{{{name}}}' in the reason of {context}.",
            f"Did you mean '{{{guess}}}'?" if guess else "Use a field name in braces.",
            code="unknown-placeholder",
        )
    return reason


def check_reachable(rule: DecisionRule, always: DecisionRule | None, rule_file) -> None:
    if always is not None:
        rule_file.error(
            rule.where,
            f"rule '{rule.name}' can never match: rule '{always.name}' "
            f"({always.where}) before it always matches.",
            "Move this rule above it, or give that rule a condition.",
            code="unreachable",
        )
        return
    reason = None
    if rule.condition.constant is False:
        reason = f"its condition '{rule.condition.text}' is always false"
    else:
        reason = contradiction(rule.condition)
    if reason:
        rule_file.error(
            rule.where,
            f"rule '{rule.name}' can never match: {reason}.",
            "Fix the condition or remove the rule.",
            code="never-matches",
        )


def read_default(data, rule_file: RuleFile) -> str:
    if "default" not in data:
        rule_file.missing(data, "default", "credit rules")
        return "block"
    value = read_outcome(
        data, "default", "credit rules", rule_file, ("approve", "block")
    )
    return value or "block"


def read_examples(data, rule_file: RuleFile, rule_names: list[str]) -> list[Example]:
    items = rule_file.sequence(data, "examples", "credit rules")
    examples = []
    for index, item in enumerate(items or []):
        context = f"example {index + 1}"
        where = rule_file.where(items, index)
        if not isinstance(item, dict):
            rule_file.error(
                where, f"{context} must be a mapping with given and expect."
            )
            continue
        rule_file.check_keys(item, ("name", "given", "expect", "rule"), context)
        name = rule_file.text(item, "name", context, required=False, default=context)
        expect = read_outcome(item, "expect", context, rule_file)
        rule = rule_file.text(item, "rule", context, required=False)
        if rule is not None and rule not in rule_names:
            guess = catalogue.closest(rule, rule_names)
            rule_file.error(
                rule_file.where(item, "rule"),
                f"{context} names rule '{rule}', which does not exist.",
                f"Did you mean '{guess}'?" if guess else "",
                code="unknown-rule",
            )
        given = read_given(item, context, rule_file)
        if expect is not None and given is not None:
            examples.append(Example(name, given, expect, rule, where))
    return examples


def read_given(item, context: str, rule_file: RuleFile) -> dict[str, Any] | None:
    table = rule_file.mapping(item, "given", context, required=True)
    if table is None:
        return None
    given: dict[str, Any] = {}
    for key, value in table.items():
        field = catalogue.lookup(str(key), catalogue.ORDER)
        where = rule_file.where(table, key)
        if field is None:
            guess = catalogue.suggest_field(str(key), catalogue.ORDER)
            rule_file.error(
                rule_file.key_where(table, key),
                f"unknown field '{key}' in {context}.",
                f"Did you mean '{guess}'?" if guess else "",
                code="unknown-field",
            )
            continue
        if field.kind in (catalogue.MONEY, catalogue.NUMBER):
            number = rule_file.amount_value(value, where, str(key))
            if number is not None:
                given[field.name] = number
        elif field.kind == catalogue.FLAG:
            if not isinstance(value, bool):
                rule_file.error(
                    where, f"'{key}' must be true or false, found {describe(value)}."
                )
                continue
            given[field.name] = value
        else:
            given[field.name] = "" if value is None else str(value)
    return given
