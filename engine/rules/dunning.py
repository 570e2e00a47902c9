"""Reading rules/dunning.yaml: reminder levels, timing, contacts and digests.

Levels are given by ranges of days overdue ('1-30', '61+'). Together they must cover
every day from the first level's start on, without overlaps or gaps. The last range
must be open ('61+'), so no overdue item falls outside every level.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine.rules import fields as catalogue
from engine.rules.credit import check_version
from engine.rules.model import Contacts, DunningLevel
from engine.rules.reader import RuleFile, describe

TOP_LEVEL = (
    "version", "levels", "quiet_days", "promise_grace_days", "send_thank_you",
    "fallback_language", "digest_schedule", "contacts",
)  # fmt: skip
RECIPIENTS = ("customer", "salesperson", "finance", "manager")
DAYS = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)|(\+))\s*")
TEMPLATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
SCHEDULE = re.compile(
    r"every-pass|daily \d{2}:\d{2}|weekly (mon|tue|wed|thu|fri|sat|sun) \d{2}:\d{2}"
)


def read_dunning(data, rule_file: RuleFile, templates: Path | None) -> dict[str, Any]:
    """Read a loaded dunning.yaml and return RuleSet keyword arguments."""
    settings: dict[str, Any] = {}
    if not isinstance(data, dict):
        rule_file.error(
            rule_file.shown,
            f"the file must be a mapping of settings, found {describe(data)}.",
            "Start from the shipped rules/dunning.yaml.",
        )
        return settings
    rule_file.check_keys(data, TOP_LEVEL, "dunning rules")
    check_version(data, rule_file)
    context = "dunning rules"
    language = rule_file.text(
        data, "fallback_language", context, required=False, default="en"
    )
    if not LANGUAGE.fullmatch(language):
        rule_file.error(
            rule_file.where(data, "fallback_language"),
            f"fallback_language '{language}' is not a language code.",
            "Write a code such as en or de.",
            code="wrong-type",
        )
        language = "en"
    settings["fallback_language"] = language
    settings["dunning_levels"] = read_levels(data, rule_file, templates, language)
    settings["quiet_days"] = rule_file.integer(data, "quiet_days", context, default=7)
    settings["promise_grace_days"] = rule_file.integer(
        data, "promise_grace_days", context, required=False, default=0
    )
    settings["send_thank_you"] = rule_file.flag(
        data, "send_thank_you", context, default=False
    )
    settings["digest_schedule"] = read_schedule(data, rule_file)
    settings["contacts"] = read_contacts(data, rule_file)
    return settings


def read_levels(
    data, rule_file: RuleFile, templates, language
) -> tuple[DunningLevel, ...]:
    items = rule_file.sequence(data, "levels", "dunning rules", required=True)
    levels: list[DunningLevel] = []
    spans: list[DunningLevel] = []  # every level with readable days, for coverage
    for index, item in enumerate(items or []):
        where = rule_file.where(items, index)
        context = f"level {index + 1}"
        if not isinstance(item, dict):
            rule_file.error(
                where, f"{context} must be a mapping with days and template."
            )
            continue
        rule_file.check_keys(
            item,
            ("level", "name", "days", "template", "recipients", "repeat_every_days"),
            context,
        )
        number = rule_file.integer(
            item, "level", context, required=False, default=index + 1, minimum=1
        )
        name = rule_file.text(
            item, "name", context, required=False, default=f"level {number}"
        )
        days = read_days(item, context, rule_file)
        template = read_template(item, context, rule_file, templates, language)
        recipients = read_recipients(item, context, rule_file)
        repeat = None
        if item.get("repeat_every_days") is not None:
            repeat = rule_file.integer(item, "repeat_every_days", context, minimum=1)
        if days is None:
            continue
        level = DunningLevel(
            number, name, days[0], days[1], template or "", recipients, repeat, where
        )
        spans.append(level)
        if template is not None:
            levels.append(level)
    check_coverage(spans, rule_file)
    return tuple(levels)


def read_days(item, context: str, rule_file: RuleFile) -> tuple[int, int | None] | None:
    if "days" not in item:
        rule_file.missing(item, "days", context)
        return None
    value = str(item["days"])
    match = DAYS.fullmatch(value)
    if match is None or int(match.group(1)) < 1:
        rule_file.error(
            rule_file.where(item, "days"),
            f"days '{value}' in {context} is not a range of days overdue.",
            "Write it as '1-30' or, for the last level, '61+'.",
            code="days-range",
        )
        return None
    low = int(match.group(1))
    high = None if match.group(3) else int(match.group(2))
    if high is not None and high < low:
        rule_file.error(
            rule_file.where(item, "days"),
            f"days '{value}' in {context} ends before it starts.",
            f"Write it as '{high}-{low}'.",
            code="days-range",
        )
        return None
    return low, high


def read_template(item, context: str, rule_file: RuleFile, templates, language):
    name = rule_file.text(item, "template", context)
    if name is None:
        return None
    if not TEMPLATE_NAME.fullmatch(name):
        rule_file.error(
            rule_file.where(item, "template"),
            f"template '{name}' in {context} is not a plain template name.",
            "Write only the name, such as reminder_level1: no folders, '..', '/' or '\\'.",
            code="template-name",
        )
        return None
    if templates is not None:
        folder = templates / language
        if not (folder / f"{name}.txt.j2").is_file():
            known = sorted(
                p.name.removesuffix(".txt.j2") for p in folder.glob("*.txt.j2")
            )
            guess = catalogue.closest(name, known)
            rule_file.error(
                rule_file.where(item, "template"),
                f"template '{name}' in {context} not found: there is no "
                f"templates/{language}/{name}.txt.j2.",
                f"Did you mean '{guess}'?"
                if guess
                else "Create that file or use an existing template.",
                code="unknown-template",
            )
    return name


def read_recipients(item, context: str, rule_file: RuleFile) -> tuple[str, ...]:
    roles = rule_file.text_list(item, "recipients", context, required=True) or []
    valid = []
    for role in roles:
        if role in RECIPIENTS:
            valid.append(role)
            continue
        guess = catalogue.closest(role, RECIPIENTS)
        rule_file.error(
            rule_file.where(item, "recipients"),
            f"unknown recipient '{role}' in {context}.",
            f"Did you mean '{guess}'?"
            if guess
            else "Use customer, salesperson, finance or manager.",
            code="unknown-role",
        )
    return tuple(valid)


def check_coverage(levels: list[DunningLevel], rule_file: RuleFile) -> None:
    """Report overlapping levels, gaps between them and a closed last range."""
    ordered = sorted(levels, key=lambda level: level.min_days)
    for before, after in zip(ordered, ordered[1:]):
        if before.max_days is None or after.min_days <= before.max_days:
            if before.max_days is None:
                shared = f"{after.min_days}+"
            else:
                shared = f"{after.min_days}-{min(before.max_days, after.max_days or before.max_days)}"
            rule_file.error(
                after.where,
                f"days {shared} of level {after.level} overlap level "
                f"{before.level} ({before.where}).",
                f"Start level {after.level} after day "
                f"{before.max_days if before.max_days is not None else before.min_days}.",
                code="days-overlap",
            )
        elif after.min_days > before.max_days + 1:
            rule_file.error(
                after.where,
                f"days {before.max_days + 1}-{after.min_days - 1} overdue are in no "
                f"level: level {before.level} ends at {before.max_days} and level "
                f"{after.level} starts at {after.min_days}.",
                f"Start level {after.level} at day {before.max_days + 1}.",
                code="days-gap",
            )
    if ordered and ordered[-1].max_days is not None:
        last = ordered[-1]
        rule_file.error(
            last.where,
            f"items more than {last.max_days} days overdue are in no level.",
            f"End the last level with '+', as in '{last.min_days}+'.",
            code="days-gap",
        )


def read_schedule(data, rule_file: RuleFile) -> str:
    value = rule_file.text(
        data, "digest_schedule", "dunning rules", required=False, default="every-pass"
    )
    if not SCHEDULE.fullmatch(value):
        rule_file.error(
            rule_file.where(data, "digest_schedule"),
            f"digest_schedule '{value}' is not a schedule.",
            "Write every-pass, 'daily 08:00' or 'weekly mon 08:00'.",
            code="schedule",
        )
        return "every-pass"
    return value


def read_contacts(data, rule_file: RuleFile) -> Contacts:
    table = rule_file.mapping(data, "contacts", "dunning rules", required=True)
    if table is None:
        return Contacts()
    context = "contacts"
    rule_file.check_keys(
        table, ("sender", "finance", "managers", "salespeople"), context
    )
    sender = rule_file.text(
        table, "sender", context, required=False, default="credit-control@agency.test"
    )
    check_email(sender, rule_file.where(table, "sender"), rule_file)
    finance = rule_file.text_list(table, "finance", context) or []
    managers = rule_file.text_list(table, "managers", context) or []
    for key, addresses in (("finance", finance), ("managers", managers)):
        for address in addresses:
            check_email(address, rule_file.where(table, key), rule_file)
    salespeople = {}
    codes = rule_file.mapping(table, "salespeople", context)
    for code, address in (codes or {}).items():
        if check_email(str(address), rule_file.where(codes, code), rule_file):
            salespeople[str(code).strip()] = str(address).strip()
    return Contacts(tuple(finance), tuple(managers), salespeople, sender)


def check_email(address: str, where: str, rule_file: RuleFile) -> bool:
    if EMAIL.fullmatch(address.strip()):
        return True
    rule_file.error(
        where,
        f"'{address}' is not an e-mail address.",
        "Write it as name@example.com.",
        code="email",
    )
    return False
