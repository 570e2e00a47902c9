"""`check` on the rule files and on broken copies of them.

Each broken case edits one line of a copy of tests/data/rules in tmp_path and
asserts the exact position and message that `check` prints.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from engine.findings import EngineError
from engine.rules.check import check_project, format_findings, load_rules

REPO = Path(__file__).resolve().parent.parent
# A fixed copy of the rule files, so tuning the shipped limits does not move these tests.
RULES = REPO / "tests" / "data" / "rules"
TEMPLATES = ("reminder_level1", "reminder_level2", "reminder_level3")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    folder = tmp_path / "templates" / "en"
    folder.mkdir(parents=True)
    for name in TEMPLATES:
        (folder / f"{name}.txt.j2").write_text("Dear {{ customer.name }}\n")
    return tmp_path


def edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / "rules" / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1))


def rule_findings(project: Path) -> list[str]:
    return [
        str(f)
        for f in check_project(project)
        if f.where.startswith("rules/c") or f.where.startswith("rules/d")
    ]


def test_fixed_rules_pass_check(project):
    assert rule_findings(project) == []


def test_shipped_rules_pass_check(tmp_path):
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    assert rule_findings(tmp_path) == []


def test_shipped_rules_load(project):
    rules = load_rules(project)
    assert rules.base_currency == "USD"
    assert [r.name for r in rules.decision_rules][0] == "over-limit"
    assert rules.late_payment_windows == ((15, 365),)


# (kind, file, text replaced, replacement, findings expected)
BROKEN = [
    (
        "misspelt field in condition",
        "credit.yaml",
        "when: days_overdue > 60",
        "when: days_overdu > 60",
        [
            "rules/credit.yaml:56:11: unknown field 'days_overdu' in condition. Did you "
            "mean 'days_overdue'?"
        ],
    ),
    (
        "misspelt top-level key",
        "credit.yaml",
        "salesperson_limits:",
        "salesperson_limit:",
        [
            "rules/credit.yaml:31:1: unknown field 'salesperson_limit' in credit rules. Did "
            "you mean 'salesperson_limits'?",
            "rules/credit.yaml:4:1: credit rules has no 'salesperson_limits'. Add "
            "'salesperson_limits:' to it.",
        ],
    ),
    (
        "money compared with text",
        "credit.yaml",
        "when: days_overdue > 60",
        'when: overdue > "60"',
        [
            "rules/credit.yaml:56:11: condition 'overdue > \"60\"': '>' compares "
            "'overdue' (money) with the text '60'. Compare money and numbers with numbers, "
            "text with quoted text."
        ],
    ),
    (
        "text compared with number",
        "credit.yaml",
        "when: days_overdue > 60",
        "when: rating == 5",
        [
            "rules/credit.yaml:56:11: condition 'rating == 5': '==' compares 'rating' "
            "(text) with the number 5. Compare money and numbers with numbers, text with "
            "quoted text."
        ],
    ),
    (
        "syntax error in condition",
        "credit.yaml",
        "when: days_overdue > 60",
        "when: days_overdue > > 60",
        [
            "rules/credit.yaml:56:26: syntax error at '>' in condition 'days_overdue > > "
            "60'. Check the operators and quotes around this point."
        ],
    ),
    (
        "unknown template",
        "dunning.yaml",
        "template: reminder_level2",
        "template: reminder_levl2",
        [
            "rules/dunning.yaml:17:15: template 'reminder_levl2' in level 2 not found: "
            "there is no templates/en/reminder_levl2.txt.j2. Did you mean "
            "'reminder_level2'?"
        ],
    ),
    (
        "template path escapes folder",
        "dunning.yaml",
        "template: reminder_level3",
        "template: ../../etc/passwd",
        [
            "rules/dunning.yaml:23:15: template '../../etc/passwd' in level 3 is not a "
            "plain template name. Write only the name, such as reminder_level1: no folders, "
            "'..', '/' or '\\'."
        ],
    ),
    (
        "overlapping dunning levels",
        "dunning.yaml",
        "days: 31-60",
        "days: 25-60",
        [
            "rules/dunning.yaml:14:5: days 25-30 of level 2 overlap level 1 "
            "(rules/dunning.yaml:8:5). Start level 2 after day 30."
        ],
    ),
    (
        "gap between dunning levels",
        "dunning.yaml",
        "days: 61+",
        "days: 70+",
        [
            "rules/dunning.yaml:20:5: days 61-69 overdue are in no level: level 2 ends at "
            "60 and level 3 starts at 70. Start level 3 at day 61."
        ],
    ),
    (
        "last level closed",
        "dunning.yaml",
        "days: 61+",
        "days: 61-90",
        [
            "rules/dunning.yaml:20:5: items more than 90 days overdue are in no level. End "
            "the last level with '+', as in '61+'."
        ],
    ),
    (
        "unreachable after always rule",
        "credit.yaml",
        "when: days_overdue > 60",
        "when: true",
        [
            "rules/credit.yaml:61:5: rule 'salesperson-over-limit' can never match: rule "
            "'long-overdue' (rules/credit.yaml:55:5) before it always matches. Move this "
            "rule above it, or give that rule a condition.",
            "rules/credit.yaml:67:5: rule 'near-limit' can never match: rule 'long-overdue' "
            "(rules/credit.yaml:55:5) before it always matches. Move this rule above it, or "
            "give that rule a condition.",
        ],
    ),
    (
        "contradictory condition",
        "credit.yaml",
        "when: days_overdue > 60",
        "when: days_overdue > 60 and days_overdue < 30",
        [
            "rules/credit.yaml:55:5: rule 'long-overdue' can never match: no value of "
            "'days_overdue' is both above 60 and below 30. Fix the condition or remove the "
            "rule."
        ],
    ),
    (
        "rating limit with a thousands dot",
        "credit.yaml",
        "  D: 5000",
        "  D: 5.000",
        [
            "rules/credit.yaml:20:6: 'limit of rating D' is written 5.000, with 3 "
            "decimals; an amount has at most 2. Write the amount without a thousands "
            "separator, such as 1500, or with a comma, such as '1,500'."
        ],
    ),
    (
        "two fields compared both ways",
        "credit.yaml",
        "when: days_overdue > 60",
        "when: exposure_after > customer_limit and exposure_after <= customer_limit",
        [
            "rules/credit.yaml:55:5: rule 'long-overdue' can never match: "
            "'customer_limit' cannot be both at or above and below 'exposure_after'. "
            "Fix the condition or remove the rule."
        ],
    ),
    (
        "fx rate zero",
        "credit.yaml",
        "EUR: 1.08",
        "EUR: 0",
        ["rules/credit.yaml:12:8: 'fx rate of EUR' is 0; it must be greater than 0."],
    ),
    (
        "unknown currency code",
        "credit.yaml",
        "EUR: 1.08",
        "EUX: 1.08",
        [
            "rules/credit.yaml:12:3: unknown currency code 'EUX'. Use a three-letter ISO "
            "4217 code such as USD or EUR."
        ],
    ),
    (
        "version missing",
        "credit.yaml",
        "version: 1\n",
        "\n",
        [
            "rules/credit.yaml:1:1: the file has no 'version'. Add 'version: 1' as its "
            "first line."
        ],
    ),
    (
        "unknown default rating",
        "credit.yaml",
        "default_rating: C",
        "default_rating: E",
        [
            "rules/credit.yaml:21:17: default_rating 'E' is not one of the ratings (A, B, "
            "C, D) and not 'hold'. Use a listed rating or 'hold'."
        ],
    ),
    (
        "approver with e-mail",
        "credit.yaml",
        "- Tom Becker",
        "- tom@agency.test",
        [
            "rules/credit.yaml:43:5: approver 'tom@agency.test' is not a person's name. "
            "Write the name exactly as managers type it in the Override Approver column, "
            "such as 'Maria Lopez' (letters, spaces, '.', '-' and ''')."
        ],
    ),
    (
        "wrong type for limit",
        "credit.yaml",
        "B: 25000",
        "B: lots",
        [
            "rules/credit.yaml:18:6: 'limit of rating B' must be an amount such as 40000 or "
            "40000.50, found the text 'lots'."
        ],
    ),
    (
        "unknown outcome",
        "credit.yaml",
        "outcome: block\n    reason: an invoice",
        "outcome: blok\n    reason: an invoice",
        [
            "rules/credit.yaml:57:14: unknown outcome 'blok' in rule 2. Did you mean "
            "'block'?"
        ],
    ),
    (
        "failing example",
        "credit.yaml",
        "expect: approve",
        "expect: block",
        [
            "rules/credit.yaml:77:5: example 'within the limit' expects block, but the "
            "rules give approve by the default. Fix the rules or the example; the rules are "
            "not applied until every example passes."
        ],
    ),
    (
        "unknown placeholder in reason",
        "credit.yaml",
        "({overdue} overdue",
        "({overdu} overdue",
        [
            "rules/credit.yaml:58:56: unknown placeholder '{overdu}' in the reason of rule "
            "2. Did you mean '{overdue}'?"
        ],
    ),
    (
        "customer scope uses order field",
        "credit.yaml",
        "when: late_payments_15d_365d >= 3",
        "when: exposure_after > 3",
        [
            "rules/credit.yaml:27:11: field 'exposure_after' describes an order and cannot "
            "be used here. Use customer fields only in limit adjustments."
        ],
    ),
    (
        "unknown recipient",
        "dunning.yaml",
        "recipients: [customer]",
        "recipients: [custmer]",
        [
            "rules/dunning.yaml:12:17: unknown recipient 'custmer' in level 1. Did you mean "
            "'customer'?"
        ],
    ),
    (
        "bad e-mail in contacts",
        "dunning.yaml",
        "AKE: anna.keller@agency.test",
        "AKE: anna.keller",
        [
            "rules/dunning.yaml:38:10: 'anna.keller' is not an e-mail address. Write it as "
            "name@example.com."
        ],
    ),
    (
        "warning threshold out of range",
        "credit.yaml",
        "threshold: 80%",
        "threshold: 180%",
        [
            "rules/credit.yaml:37:14: 'threshold' must be a share between 0 and 100 %, "
            "found the text '180%'. Write it as 80% or 0.8."
        ],
    ),
    (
        "function call in condition",
        "credit.yaml",
        "when: days_overdue > 60",
        "when: $abs(days_overdue) > 60",
        [
            "rules/credit.yaml:56:11: condition '$abs(days_overdue) > 60': function calls "
            "are not supported in rule conditions. Use comparisons, arithmetic, 'and', "
            "'or', 'not' and 'in [...]'."
        ],
    ),
]


@pytest.mark.parametrize(
    "kind,name,old,new,expected", BROKEN, ids=[c[0] for c in BROKEN]
)
def test_broken_rule_file(project, kind, name, old, new, expected):
    edit(project, name, old, new)
    assert rule_findings(project) == expected


def test_broken_cases_cover_many_kinds():
    assert len(BROKEN) >= 15


def test_errors_of_all_files_in_one_run(project):
    edit(project, "credit.yaml", "EUR: 1.08", "EUR: -1")
    edit(project, "dunning.yaml", "quiet_days: 7", "quiet_day: 7")
    found = rule_findings(project)
    assert any(f.startswith("rules/credit.yaml:12:8:") for f in found)
    assert any(
        f.startswith("rules/dunning.yaml:27:1: unknown field 'quiet_day'")
        for f in found
    )


def test_load_rules_raises_with_findings(project):
    edit(project, "credit.yaml", "default: approve", "default: aprove")
    with pytest.raises(EngineError) as raised:
        load_rules(project)
    assert [str(f) for f in raised.value.findings] == [
        "rules/credit.yaml:72:10: unknown default 'aprove' in credit rules. "
        "Did you mean 'approve'?"
    ]


def test_yaml_syntax_error_names_line(project):
    edit(project, "credit.yaml", "  B: 25000", "  B: [25000")
    found = rule_findings(project)
    assert len(found) == 1
    assert found[0].startswith("rules/credit.yaml:")
    assert "YAML syntax error" in found[0]


def test_python_tag_builds_no_object(project):
    edit(
        project,
        "credit.yaml",
        "EUR: 1.08",
        "EUR: !!python/object/apply:os.system ['true']",
    )
    found = rule_findings(project)
    assert len(found) == 1
    assert found[0].startswith("rules/credit.yaml:12:")


def test_yaml_bomb_rejected_quickly(project):
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    (project / "rules" / "credit.yaml").write_text(
        "version: 1\n" + "\n".join(lines) + "\n"
    )
    started = time.perf_counter()
    found = rule_findings(project)
    assert time.perf_counter() - started < 5
    assert found == [
        "rules/credit.yaml: expands to more than 200,000 values (nested aliases?). "
        "Remove the repeated '*alias' references."
    ]


def test_missing_file_reported(project):
    (project / "rules" / "dunning.yaml").unlink()
    assert rule_findings(project) == [
        "rules/dunning.yaml: file not found. Create it or fix the path."
    ]


def test_format_findings_sorted_by_line(project):
    edit(project, "credit.yaml", "B: 25000", "B: lots")
    edit(project, "credit.yaml", "EUR: 1.08", "EUR: 0")
    text = format_findings(check_project(project))
    lines = [line for line in text.splitlines() if line.startswith("rules/credit")]
    assert lines[0].startswith("rules/credit.yaml:12:8:")
    assert lines[1].startswith("rules/credit.yaml:18:6:")


def test_workbook_map_checked_too(project):
    text = (REPO / "rules" / "workbooks.yaml").read_text()
    (project / "rules" / "workbooks.yaml").write_text(text.replace("version: 1", "version: 7"))
    found = [str(f) for f in check_project(project)]
    assert any(f.startswith("rules/workbooks.yaml:") for f in found)


def test_example_names_warning_rule_of_approval(project):
    edit(
        project,
        "credit.yaml",
        "default: approve",
        "  - name: small-ok\n    when: exposure_after < 50000\n    outcome: approve\n\n"
        "default: approve",
    )
    # The example expecting a warning by near-limit still passes: small-ok approves
    # and near-limit warns.
    assert rule_findings(project) == []

    edit(project, "credit.yaml", "    expect: warn\n", "    expect: block\n")

    [found] = rule_findings(project)
    assert "example 'near the limit warns' expects block by rule 'near-limit'" in found
    assert (
        "the rules give warn by rule 'small-ok', with the warning of rule 'near-limit'."
        in found
    )
