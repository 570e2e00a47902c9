"""Letters of uncertain delivery: listed on every pass and by `status` until resolved."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import copy_project
from mail_factories import AS_OF, send_ledger
from test_digest_crash import AS_OF as PASS_DAY
from test_digest_crash import Killed, StoppingOutbox

from engine.cli import cli
from engine.mail import deliver
from engine.mail import transport as transport_module
from engine.mail.ledger import QUEUED, SENT, UNCERTAIN
from engine.mail.letter import Letter
from engine.mail.transport import OutboxTransport, outbox_name
from engine.pipeline import run_pass
from engine.project import Project


def crash_pass(project, monkeypatch) -> None:
    """Run a pass that stops while it hands over its second digest.

    Delivery sends one letter at a time, as with SMTP, so the digest in hand
    is left "sending" without its file.
    """
    monkeypatch.setattr(
        transport_module,
        "make_transport",
        lambda folder, settings: StoppingOutbox(folder, 1, staging=False),
    )
    with pytest.raises(Killed):
        run_pass(Project.at(project), as_of=PASS_DAY)
    monkeypatch.undo()


@pytest.fixture
def crashed_project(tmp_path, monkeypatch):
    """A project whose first pass stopped while it wrote the digests."""
    project = copy_project(tmp_path / "project")
    crash_pass(project, monkeypatch)
    return project


@pytest.fixture
def crashed_twice_project(crashed_project, monkeypatch):
    """A project whose first two passes stopped while they wrote the digests."""
    crash_pass(crashed_project, monkeypatch)
    return crashed_project


def uncertain_of(result) -> list:
    return [f for f in result.findings if f.code == "mail-uncertain"]


def cli_run(project, *arguments):
    return CliRunner().invoke(cli, ["--project", str(project), *arguments])


def test_uncertain_listed_every_pass(crashed_project):
    first = run_pass(Project.at(crashed_project), as_of=PASS_DAY)
    second = run_pass(Project.at(crashed_project), as_of=PASS_DAY)

    reported = {entry.message_id for entry in first.delivery.uncertain}
    assert reported
    assert not second.delivery.uncertain
    for result in (first, second):
        findings = uncertain_of(result)
        assert len(findings) == len(reported)
        for message_id in reported:
            assert any(message_id in finding.message for finding in findings)
        for message_id in reported:
            command = f"resolve-letter {message_id.strip('<>')} --arrived"
            assert any(command in finding.fix for finding in findings)


def test_status_lists_uncertain_letters(crashed_project):
    text = cli_run(crashed_project, "status")
    as_json = cli_run(crashed_project, "status", "--json")

    assert text.exit_code == 0, text.output
    assert as_json.exit_code == 0, as_json.output
    letters = json.loads(as_json.output)["uncertain_letters"]
    assert letters
    # Before the next pass, the letters are still "sending".
    assert {letter["status"] for letter in letters} == {"sending"}
    assert "uncertain letters: 0" in text.output
    assert f"letters being sent: {len(letters)}" in text.output
    for letter in letters:
        assert letter["kind"] == "digest"
        assert letter["message_id"] in text.output


def test_resolve_letter_arrived_and_not(crashed_twice_project):
    crashed_project = crashed_twice_project
    run_pass(Project.at(crashed_project), as_of=PASS_DAY)
    ledger = send_ledger(crashed_project / "state" / "arrears-guard.sqlite")
    arrived, missing = ledger.uncertain()
    ledger.conn.close()
    outbox = crashed_project / "outbox"
    before = len(list(outbox.glob("*.eml")))

    bare_id = arrived.message_id.strip("<>")
    yes = cli_run(crashed_project, "resolve-letter", bare_id, "--arrived")
    no = cli_run(crashed_project, "resolve-letter", missing.message_id, "--not-arrived")
    again = cli_run(crashed_project, "resolve-letter", arrived.message_id, "--arrived")

    assert yes.exit_code == 0, yes.output
    assert no.exit_code == 0, no.output
    assert again.exit_code == 1
    assert "no letter of uncertain delivery" in again.output
    letters = json.loads(cli_run(crashed_project, "status", "--json").output)
    assert letters["uncertain_letters"] == []

    second = run_pass(Project.at(crashed_project), as_of=PASS_DAY)
    assert uncertain_of(second) == []
    # The digest that did not arrive is sent again, the one that did is not.
    assert len(list(outbox.glob("*.eml"))) == before + 1
    assert list(outbox.glob(f"*_digest_{missing.recipient_id}_{missing.key[:8]}.eml"))
    assert not list(outbox.glob(f"*_digest_{arrived.recipient_id}_*.eml"))


def interrupted_letter(tmp_path, write_file: bool):
    """Record a letter "sending" as a killed run leaves it, with or without its file."""
    letter = Letter(
        kind="reminder",
        template="reminder_l1",
        as_of=AS_OF,
        recipient_id="C001",
        to=("c1@example.test",),
        language="en",
        level=1,
    )
    raw = b"From: a@agency.test\r\nTo: c1@example.test\r\n\r\nbody\r\n"
    ledger = send_ledger(tmp_path / "state.sqlite")
    ledger.begin(letter, "<ag-1@agency.test>", raw)
    outbox = OutboxTransport(tmp_path / "outbox")
    outbox.connect()
    if write_file:
        name = outbox_name("reminder", 1, "C001", AS_OF.isoformat(), letter.key)
        outbox.send(raw, name)
    return letter, ledger, outbox


def test_interrupted_letter_in_outbox_is_sent(tmp_path):
    letter, ledger, outbox = interrupted_letter(tmp_path, write_file=True)
    report = deliver([], outbox, ledger)
    assert report.uncertain == []
    assert ledger.entry(letter.key).status == SENT


def test_interrupted_letter_without_file_uncertain(tmp_path):
    letter, ledger, outbox = interrupted_letter(tmp_path, write_file=False)
    report = deliver([], outbox, ledger)
    assert [entry.key for entry in report.uncertain] == [letter.key]
    assert ledger.entry(letter.key).status == UNCERTAIN
    assert ledger.resolve("ag-1@agency.test", arrived=False).key == letter.key
    assert ledger.entry(letter.key).status == QUEUED
