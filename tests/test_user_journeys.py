"""A new finance user, staff member and manager working on a copy of the demo.

Each test follows the README and docs/rules.md the way a new user would: edit a
draft rule file, run `check` and `preview`, type rows into the workbooks with
openpyxl and run one pass, then read the letters in outbox/.
"""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import shutil
from email import policy
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from engine.cli import cli

AS_OF = "2013-06-03"


def run(project: Path, *args: str):
    result = CliRunner().invoke(
        cli, ["--project", str(project), "--as-of", AS_OF, *args]
    )
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, (AssertionError, TypeError, KeyError))
    return result


def draft(project: Path, file: str, old: str, new: str) -> Path:
    """Copy rules/ to rules-draft/ and replace `old` by `new` in one file."""
    target = project / "rules-draft"
    shutil.copytree(project / "rules", target)
    path = target / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


MISTAKES = [
    # (file, old, new, text on the reported line, words the message must hold)
    (
        "credit.yaml",
        "when: days_overdue > 60",
        "when: days_overdu > 60",
        "days_overdu",
        ["'days_overdu'", "Did you mean 'days_overdue'"],
    ),
    (
        "credit.yaml",
        "threshold: 80%",
        "threshold: 800%",
        "800%",
        ["'800%'", "80% or 0.8"],
    ),
    (
        "credit.yaml",
        "  D: 150",
        '  D: "1.500,00"',
        "1.500,00",
        ["'1.500,00'", "40000.50"],
    ),
    (
        "credit.yaml",
        "  EUR: 1.08",
        "  EUR: 1,08",
        "1,08",
        ["'1,08'"],
    ),
    (
        "credit.yaml",
        "    outcome: warn",
        "    outcome: warning",
        "outcome: warning",
        ["'warning'", "Did you mean 'warn'"],
    ),
    (
        "credit.yaml",
        "    outcome: block\n    reason: exposure would be {exposure_after} of",
        "     outcome: block\n    reason: exposure would be {exposure_after} of",
        "     outcome: block",
        ["YAML syntax error", "indentation"],
    ),
    (
        "dunning.yaml",
        "    days: 31-60",
        "    days: 35-60",
        "- level: 2",
        ["31-34", "Start level 2 at day 31"],
    ),
    (
        "dunning.yaml",
        "    recipients: [customer]",
        "    recipients: [customer, manger]",
        "[customer, manger]",
        ["'manger'", "Did you mean 'manager'"],
    ),
]


@pytest.mark.parametrize(
    "file,old,new,marker,words", MISTAKES, ids=[m[2].strip()[:24] for m in MISTAKES]
)
def test_check_names_file_line_value_and_fix(demo_project, file, old, new, marker, words):
    rules = draft(demo_project, file, old, new)
    result = run(demo_project, "check", "--rules", str(rules))
    assert result.exit_code == 1, result.output
    line = line_of(rules / file, marker)
    assert f"{file}:{line}:" in result.output, result.output
    for word in words:
        assert word in result.output, result.output
    assert "the rules in force stay as they were" in result.output


def test_new_rating_band_passes_check(demo_project):
    rules = draft(demo_project, "credit.yaml", "  D: 150", "  D: 150\n  E: 100")
    result = run(demo_project, "check", "--rules", str(rules))
    assert result.exit_code == 0, result.output


def test_preview_shows_the_change_and_writes_nothing(demo_project):
    rules = draft(demo_project, "credit.yaml", "  D: 150", "  D: 1000")
    before = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (demo_project / "workbooks").glob("*.xlsx")
    }
    result = run(demo_project, "preview", "--rules", str(rules))
    assert result.exit_code == 0, result.output
    assert "nothing has been written or sent" in result.output
    assert "ORD-3347423476   (empty) -> APPROVED" in result.output
    assert "rating D 1,000.00" in result.output
    after = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (demo_project / "workbooks").glob("*.xlsx")
    }
    assert after == before
    assert not (demo_project / "outbox").exists()
    assert not (demo_project / "report").exists()


def add_orders(project: Path, rows: list[list]) -> None:
    path = project / "workbooks" / "orders.xlsx"
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Orders"]
    for row in rows:
        sheet.append(row)
    summary = workbook.create_sheet("Summary")
    summary["A1"] = "Total"
    summary["B1"] = "=SUM(Orders!E2:E100)"
    workbook.save(path)


def read_orders(project: Path) -> dict[str, tuple]:
    workbook = openpyxl.load_workbook(project / "workbooks" / "orders.xlsx")
    sheet = workbook["Orders"]
    return {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}


def test_staff_rows_flagged_rest_unchanged(demo_project):
    day = dt.datetime(2013, 6, 3)
    add_orders(
        demo_project,
        [
            ["ORD-NEW-OVER", day, "0379-NEVHP", "BSO", 100, "USD"],
            ["ORD-NEW-TEXTDATE", "03/06/2013", "0187-ERLSR", "AKE", 20, "USD"],
            ["ORD-NEW-DE-AMOUNT", day, "0187-ERLSR", "AKE", "1.234,50", "USD"],
            ["ORD-NEW-US-AMOUNT", day, "0187-ERLSR", "AKE", "1,234.50", "USD"],
        ],
    )
    before = openpyxl.load_workbook(demo_project / "workbooks" / "orders.xlsx")
    run(demo_project, "once")
    rows = read_orders(demo_project)
    status, reason = rows["ORD-NEW-OVER"][14:16]
    assert status == "BLOCKED"
    assert reason.startswith(
        "Blocked: exposure would be 178.57 of a 120.00 limit (typed limit 120.00)"
    )
    assert rows["ORD-NEW-TEXTDATE"][14] == "APPROVED"
    assert rows["ORD-NEW-TEXTDATE"][1] == "03/06/2013"
    status, reason = rows["ORD-NEW-DE-AMOUNT"][14:16]
    assert status == "HELD"
    assert "'1.234,50' is not a number in locale en_US" in reason
    assert rows["ORD-NEW-DE-AMOUNT"][4] == "1.234,50"
    status, reason = rows["ORD-NEW-US-AMOUNT"][14:16]
    assert status == "BLOCKED"
    assert "1,308.09 of a 500.00 limit" in reason

    after = openpyxl.load_workbook(demo_project / "workbooks" / "orders.xlsx")
    assert after["Summary"]["B1"].value == "=SUM(Orders!E2:E100)"
    old, new = before["Orders"], after["Orders"]
    for old_row, new_row in zip(old.iter_rows(), new.iter_rows()):
        for old_cell, new_cell in zip(old_row[:14], new_row[:14]):
            assert (old_cell.value, old_cell.number_format) == (
                new_cell.value,
                new_cell.number_format,
            ), old_cell.coordinate


def test_payment_settles_invoice_and_thanks_customer(demo_project):
    run(demo_project, "once")
    path = demo_project / "workbooks" / "payments.xlsx"
    workbook = openpyxl.load_workbook(path)
    workbook["Payments"].append(
        ["PAY-QA7-1", dt.datetime(2013, 6, 3), "1168-BEASA", "1241888754", 49.96,
         "USD", "Bank transfer"]
    )
    workbook.save(path)
    run(demo_project, "once")
    customers = openpyxl.load_workbook(demo_project / "workbooks" / "customers.xlsx")
    row = next(
        r for r in customers["Customers"].iter_rows(min_row=2, values_only=True)
        if r[0] == "1168-BEASA"
    )
    assert row[11:14] == (0, 0, 0)  # Outstanding, Overdue, Exposure
    assert list((demo_project / "outbox").glob("*thank-you_1168-BEASA*.eml"))


def test_final_notice_total_matches_customers_sheet(demo_project):
    run(demo_project, "once")
    (letter,) = (demo_project / "outbox").glob("*reminder-L3_3448-OWJOT*.eml")
    with letter.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=policy.default)
    assert message["To"] == "Käthe Köhler <ap@reiseburo-kohler-gmbh.test>"
    assert message["Cc"] == "anna.keller@agency.test, finance@agency.test"
    text = message.get_body(("plain",)).get_content()
    assert "Offen gesamt: 320,76 €" in text
    customers = openpyxl.load_workbook(demo_project / "workbooks" / "customers.xlsx")
    row = next(
        r for r in customers["Customers"].iter_rows(min_row=2, values_only=True)
        if r[0] == "3448-OWJOT"
    )
    # Overdue in the sheet is in USD; the letter is in the customer's EUR at 1.08.
    assert row[12] == pytest.approx(346.42)
    assert round(320.76 * 1.08, 2) == pytest.approx(row[12])
