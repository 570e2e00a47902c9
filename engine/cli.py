"""The arrears-guard command line: watch, once, check, preview, explain, status.

`resolve-letter` records whether a letter of uncertain delivery arrived.

Logging is configured here and nowhere else; the engine only logs and returns
findings, and this module turns them into text and exit codes.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import click

from engine.findings import EngineError
from engine.project import Project

log = logging.getLogger("engine")

EXIT_OK = 0
EXIT_FINDINGS = 1


def parse_as_of(ctx, param, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date; use YYYY-MM-DD, e.g. 2013-06-03.")


as_of_option = click.option(
    "--as-of",
    callback=parse_as_of,
    metavar="YYYY-MM-DD",
    help="Pin 'today' for reproducible runs and replays (default: today in the "
    "agency's time zone from the rules).",
)


def configure_logging(verbose: bool) -> None:
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        # Milliseconds, so a log shows where the time of a save-to-flag went.
        fmt = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt, datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("watchdog", "PIL", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def progress_display(enabled: bool):
    """Yield a step callback; a progress bar appears once a pass runs over a second."""
    if not enabled:
        yield lambda name: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        transient=True, console=None,
    )
    task = progress.add_task("pass", total=None)
    timer = threading.Timer(1.0, progress.start)
    timer.daemon = True
    timer.start()

    def step(name: str) -> None:
        progress.update(task, description=f"pass: {name}")

    try:
        yield step
    finally:
        timer.cancel()
        progress.stop()


def print_findings(findings, out=None) -> None:
    out = out or sys.stdout
    for finding in findings:
        click.echo(f"{finding.severity.value}: {finding}", file=out)


def fail_with(exc: EngineError) -> None:
    print_findings(exc.findings, sys.stderr)
    sys.exit(EXIT_FINDINGS)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project", "project_dir", type=click.Path(file_okay=False, path_type=Path),
    default=".", show_default=True,
    help="Project folder: the one holding rules/, templates/ and the workbook map.",
)
@as_of_option
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.version_option(package_name="arrears-guard")
@click.pass_context
def cli(ctx, project_dir: Path, as_of, verbose: bool):
    """Credit control inside the Excel workbooks a travel agency already keeps.

    With no command, runs `watch`. Examples:

    \b
      arrears-guard --as-of 2013-06-03 once
      arrears-guard check
      arrears-guard --as-of 2013-06-03 preview --json
      arrears-guard explain ORD-8893171508
    """
    configure_logging(verbose)
    ctx.obj = {"project": Project.at(project_dir), "as_of": as_of}
    if ctx.invoked_subcommand is None:
        ctx.invoke(watch)


def project_and_date(ctx, as_of):
    return require_project(ctx), as_of or ctx.obj["as_of"]


def require_project(ctx) -> Project:
    """Return the project, or exit with a message when it has no workbook map."""
    project = ctx.obj["project"]
    if not project.workbook_map_path.exists():
        click.echo(
            f"error: {project.workbook_map_path} not found: {project.root} is not an "
            "arrears-guard project folder. Run the command in the folder that holds "
            "rules/, or pass --project DIR.",
            err=True,
        )
        sys.exit(EXIT_FINDINGS)
    return project


@cli.command()
@as_of_option
@click.pass_context
def once(ctx, as_of):
    """Run one pass: read, decide, write back, report and mail, then exit.

    Exits 0 when the pass reported nothing, 1 when it reported any finding.

    \b
    Example:  arrears-guard --as-of 2013-06-03 once
    """
    from engine.pipeline import run_pass, summary_counts

    project, as_of = project_and_date(ctx, as_of)
    try:
        with progress_display(sys.stderr.isatty()) as step:
            result = run_pass(project, as_of=as_of, progress=step)
    except EngineError as exc:
        fail_with(exc)
    print_findings(result.findings)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary_counts(result).items()))
    if result.skipped:
        counts = "nothing changed since the last completed pass"
    click.echo(
        f"Pass as of {result.as_of}: {counts or 'no orders to decide'}; "
        f"{result.cells_written} cells written; {len(result.findings)} findings."
    )
    sys.exit(EXIT_FINDINGS if len(result.findings) else EXIT_OK)


@cli.command()
@as_of_option
@click.pass_context
def watch(ctx, as_of):
    """Run a full pass, then a pass after every save of a watched workbook or rule file.

    Stops cleanly on Ctrl+C or SIGTERM.

    \b
    Example:  arrears-guard --as-of 2013-06-03 watch
    """
    from engine.inputs import ReadMemo
    from engine.pipeline import flush_pending, run_pass
    from engine.service import run_service

    project, as_of = project_and_date(ctx, as_of)
    # The service's passes share one memo, so a save of orders.xlsx does not re-read
    # payments.xlsx.
    passes = functools.partial(run_pass, memo=ReadMemo())
    try:
        code = run_service(project, as_of=as_of, run_pass=passes, flush_pending=flush_pending)
    except EngineError as exc:
        fail_with(exc)
    sys.exit(code)


rules_option = click.option(
    "--rules", "rules_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A draft folder with credit.yaml and dunning.yaml, and optionally "
    "workbooks.yaml, to use in place of rules/, so a change can be checked and "
    "previewed before it takes effect.",
)


@cli.command()
@rules_option
@click.pass_context
def check(ctx, rules_dir: Path | None):
    """Check every rule file, the workbook map and the templates; run rule examples.

    Prints every error of every file as file:line:column: message, then exits 1 if
    there was any.

    \b
    Examples:  arrears-guard check
               arrears-guard check --rules rules-draft
    """
    from engine.preview import with_draft_map
    from engine.rules.check import check_project

    project = require_project(ctx)
    findings = check_project(project.root, rules_dir)
    draft = with_draft_map(project, rules_dir)
    if draft is not project:
        findings.extend(check_draft_map(draft))
    findings.extend(check_smtp_settings(project))
    click.echo(f"Workbook map: {shown_map(draft)}")
    for finding in findings:
        click.echo(str(finding))
    errors = [f for f in findings if f.severity.value == "error"]
    if errors:
        click.echo(f"{len(errors)} error(s); the rules in force stay as they were.")
        sys.exit(EXIT_FINDINGS)
    click.echo("Rules, workbook map and templates are valid.")


def check_smtp_settings(project: Project) -> list:
    """Return the findings of the SMTP settings (smtp.toml and ARREARS_SMTP_*)."""
    from engine.notify import smtp_settings

    try:
        smtp_settings(project)
    except EngineError as exc:
        return list(exc.findings)
    return []


def shown_map(project: Project) -> str:
    path = project.workbook_map_path
    if path.is_relative_to(project.root):
        return str(path.relative_to(project.root))
    return str(path)


def check_draft_map(project: Project) -> list:
    """Check a draft folder's workbook map, and read the workbooks through it.

    The project's own map is checked too, by `check_project`.
    """
    from engine.inputs import read_inputs
    from engine.workbook_map import check_workbook_map, load_workbook_map

    findings = check_workbook_map(project.workbook_map_path, project.root)
    if any(f.severity.value == "error" for f in findings):
        return findings
    try:
        read_inputs(load_workbook_map(project.workbook_map_path, project.root))
    except EngineError as exc:
        findings.extend(exc.findings)
    return findings


@cli.command()
@as_of_option
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Print the preview as JSON.")
@click.pass_context
def preview(ctx, as_of, rules_dir: Path | None, as_json: bool):
    """Show what a pass would change, without writing or sending anything.

    Lists each order whose status or reason would change and each letter that would
    go out. With --rules, the draft rules are used, so finance sees what an edit
    would do before copying it into rules/ (where a running service applies it).

    \b
    Examples:  arrears-guard --as-of 2013-06-03 preview --json
               arrears-guard --as-of 2013-06-03 preview --rules rules-draft
    """
    from engine.preview import build_preview, format_preview, with_draft_map
    from engine.rules.check import load_rules

    project, as_of = project_and_date(ctx, as_of)
    project = with_draft_map(project, rules_dir)
    click.echo(f"Workbook map: {shown_map(project)}", err=True)
    try:
        rules = load_rules(project.root, rules_dir) if rules_dir else None
        data = build_preview(project, as_of=as_of, rules=rules)
    except EngineError as exc:
        fail_with(exc)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(format_preview(data))


@cli.command()
@click.argument("order_id")
@as_of_option
@click.option(
    "--now", "fresh", is_flag=True,
    help="Decide the order again in a dry pass instead of showing the logged decision.",
)
@click.pass_context
def explain(ctx, order_id: str, as_of, fresh: bool):
    """Print the full trace of the decision on one order.

    Shows the exposure parts, the limit and how it was derived, and each rule tried
    with why it matched or not. A decision already written is shown from the decision
    log. An order not decided yet is decided in a dry pass; use --as-of to pin the day.

    \b
    Example:  arrears-guard --as-of 2013-06-03 explain ORD-8893171508
    """
    from engine.preview import explain_order

    project, as_of = project_and_date(ctx, as_of)
    try:
        text = explain_order(project, order_id, as_of=as_of, fresh=fresh)
    except EngineError as exc:
        fail_with(exc)
    click.echo(text)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx, as_json: bool):
    """Print the service's last pass, pending writes and observer mode.

    \b
    Example:  arrears-guard status
    """
    from engine.service import service_status

    project = require_project(ctx)
    try:
        info = service_status(project)
    except EngineError as exc:
        fail_with(exc)
    info["uncertain_letters"] = unresolved_letters(project)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(format_status(info))


def unresolved_letters(project: Project) -> list[dict]:
    """Return the letters whose delivery is uncertain or still in hand, for `status`."""
    from engine.mail.ledger import read_unresolved
    from engine.workbook_map import load_workbook_map

    try:
        workbook_map = load_workbook_map(project.workbook_map_path, project.root)
    except EngineError as exc:
        fail_with(exc)
    return read_unresolved(workbook_map.state)


@cli.command("resolve-letter")
@click.argument("message_id")
@click.option(
    "--arrived/--not-arrived",
    required=True,
    help="Whether the recipient got the letter: --arrived records it sent, "
    "--not-arrived lets the next pass that still plans it send it again.",
)
@click.pass_context
def resolve_letter(ctx, message_id: str, arrived: bool):
    """Record whether a letter of uncertain delivery arrived.

    MESSAGE_ID is the letter's Message-ID as `status` lists it, with or without
    its angle brackets.

    \b
    Example:  arrears-guard resolve-letter ag-1a2b...@agency.test --arrived
    """
    from engine.mail.ledger import SendLedger
    from engine.state import open_state
    from engine.workbook_map import load_workbook_map

    project = require_project(ctx)
    try:
        workbook_map = load_workbook_map(project.workbook_map_path, project.root)
    except EngineError as exc:
        fail_with(exc)
    connection = open_state(workbook_map.state)
    try:
        entry = SendLedger(connection).resolve(message_id, arrived)
    finally:
        connection.close()
    if entry is None:
        click.echo(
            f"error: no letter of uncertain delivery has Message-ID {message_id}. "
            "Run `arrears-guard status` to list them.",
            err=True,
        )
        ctx.exit(EXIT_FINDINGS)
    outcome = "sent" if arrived else "queued to be sent again"
    click.echo(f"{entry.kind} letter to {entry.recipient_id} of {entry.as_of}: {outcome}")


def _letter_lines(letters: list[dict]) -> list[str]:
    return [
        f"  {letter['message_id']} {letter['kind']} to {letter['recipient']}"
        f" of {letter['as_of']}, {letter['status']} since {letter['since']}"
        for letter in letters
    ]


def format_status(info: dict) -> str:
    """Format the service status as lines a person reads, one fact per line."""
    lines = [f"service: {info.get('state', 'unknown')}"]
    for key in ("pid", "started_at", "stopped_at", "folder", "observer_mode"):
        if info.get(key) is not None:
            lines.append(f"{key.replace('_', ' ')}: {info[key]}")
    last = info.get("last_pass")
    if last:
        lines.append(
            f"last pass: number {last.get('number')} at {last.get('at')}, "
            f"{last.get('seconds')} s, {'ok' if last.get('ok') else 'failed'}, "
            f"{len(last.get('written', []))} written, {last.get('findings', 0)} findings"
        )
    else:
        lines.append("last pass: none recorded by a running service")
    pending = info.get("pending_writes") or []
    lines.append(f"pending writes: {len(pending)}")
    for item in pending:
        who = f", open by {item['owner']}" if item.get("owner") else ""
        lines.append(f"  {item['file']} › {item['sheet']} since {item['since']}{who}")
    letters = info.get("uncertain_letters") or []
    uncertain = [letter for letter in letters if letter["status"] != "sending"]
    sending = [letter for letter in letters if letter["status"] == "sending"]
    lines.append(f"uncertain letters: {len(uncertain)}")
    lines.extend(_letter_lines(uncertain))
    if sending:
        # `resolve-letter` takes only uncertain letters. A letter still "sending"
        # is settled by the pass sending it, or by the next pass after a crash.
        lines.append(
            f"letters being sent: {len(sending)} (if no pass is running, the last "
            "one stopped while sending them and the next pass settles them)"
        )
        lines.extend(_letter_lines(sending))
    for key, value in info.items():
        known = {"state", "pid", "started_at", "stopped_at", "folder", "observer_mode",
                 "last_pass", "pending_writes", "uncertain_letters"}
        if key not in known and value not in (None, "", [], {}):
            lines.append(f"{key.replace('_', ' ')}: {value}")
    return "\n".join(lines)


def main() -> None:
    cli(prog_name="arrears-guard")


