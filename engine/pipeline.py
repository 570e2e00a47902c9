"""One pass: read -> ledger -> limits -> decide -> write back -> report -> mail.

Each stage is a plain function call below. A report or mail stage that fails is
reported as findings and the stages before it stand, so one broken template cannot
undo a pass or stop the service.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import functools
import gc
import hashlib
import logging
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from engine.filestamp import FileStamp
from engine.findings import EngineError, Finding, FindingLog
from engine.pass_fingerprint import UnchangedCheck
from engine.project import Project
from engine.state import open_state

if TYPE_CHECKING:
    # engine.writeback loads openpyxl, which a pass that finds its input unchanged
    # does not need, so the functions below import it when they run.
    from engine.writeback import SheetWrite

log = logging.getLogger(__name__)

CENT = Decimal("0.01")

Progress = Callable[[str], None]


@dataclass(slots=True)
class PassResult:
    as_of: dt.date
    dry_run: bool
    findings: FindingLog = field(default_factory=FindingLog)
    decisions: list = field(default_factory=list)
    # Files the engine wrote, with their new stamps (the watcher ignores these contents).
    written: dict[Path, FileStamp] = field(default_factory=dict)
    cells_written: int = 0
    # Files not written because a lock file exists, with the lock owner's name.
    locked: dict[Path, str | None] = field(default_factory=dict)
    # Stamps of the workbook bytes this pass read, by path.
    read_stamps: dict[Path, FileStamp] = field(default_factory=dict)
    # Files a person saved between this pass's read and its write.
    changed_during_pass: set[Path] = field(default_factory=set)
    # In a writing pass, the cells of each sheet written are dropped once written.
    planned_writes: list[SheetWrite] = field(default_factory=list)
    # Order id -> (status, reason) as the sheet showed them before this pass; a
    # writing pass keeps only the decided orders.
    previous: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    letters: list = field(default_factory=list)
    delivery: object | None = None
    report_written: bool = False
    duration: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    # True when nothing changed since the last completed pass, so this one did nothing
    # and `findings` and `counts` are that pass's.
    skipped: bool = False


def agency_today(timezone: str) -> dt.date:
    """Return today's date in the agency's time zone, not the server's."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(timezone)).date()


def load_rules(project: Project):
    from engine.rules.check import load_rules as load

    return load(project.root)


PASS_LOCK_TIMEOUT = 300.0


def run_pass(
    project: Project,
    *,
    as_of: dt.date | None = None,
    dry_run: bool = False,
    rules=None,
    send_mail: bool = True,
    progress: Progress | None = None,
    memo=None,
) -> PassResult:
    """Run one pass over the mapped workbooks and return what it found and did.

    `rules` lets the service pass the last good rule set; without it the rules are
    loaded, and a broken rule file or workbook map raises EngineError before anything
    is read. `memo` (an `engine.inputs.ReadMemo`) lets a series of passes skip
    re-reading unchanged payments and rebuilding unchanged customers' accounts.
    With `dry_run` nothing is written or sent, and
    `planned_writes` and `letters` say what would have been. A workbook that cannot be read ends the pass
    with its findings; a failing report or mail stage is reported and the rest stands.

    A writing pass whose inputs equal those of the last cleanly completed pass is
    skipped and repeats that pass's findings (see `engine.pass_fingerprint`).

    Passes that write take a lock file beside the state database, so a `once` run
    next to a running service waits for the service's pass instead of interleaving
    writes and mail with it.
    """
    with nullcontext() if dry_run else pass_lock(project):
        return _run_pass(project, as_of=as_of, dry_run=dry_run, rules=rules,
                         send_mail=send_mail, progress=progress, memo=memo)


@contextmanager
def pass_lock(project: Project):
    """Hold the project's pass lock, waiting up to PASS_LOCK_TIMEOUT for another pass."""
    from engine.workbook_map import load_workbook_map

    state_path = load_workbook_map(project.workbook_map_path, project.root).state
    state_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(state_path) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("another pass is running on %s; waiting for it to finish", project.root)
        try:
            lock.acquire(timeout=PASS_LOCK_TIMEOUT)
        except Timeout:
            raise EngineError(
                Finding(
                    str(state_path) + ".lock",
                    f"another arrears-guard pass has run for over "
                    f"{PASS_LOCK_TIMEOUT:.0f} s.",
                    "Wait for it to finish, or stop the other arrears-guard process.",
                )
            ) from None
    try:
        yield
    finally:
        lock.release()


def _run_pass(project: Project, **options) -> PassResult:
    return_large_blocks()
    try:
        return _run_stages(project, **options)
    finally:
        # Objects frozen during the pass go back to the collector when it ends.
        gc.unfreeze()


# mallopt parameters of glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc's default for both, in bytes.
LARGE_BLOCK = 128 * 1024


@functools.cache
def return_large_blocks() -> None:
    """Make glibc give each freed block of LARGE_BLOCK bytes or more back to the OS.

    glibc raises its mmap threshold (up to 32 MiB) each time such a block is freed,
    so the tables of a million-row pass's dicts and lists then come from the heap,
    whose freed pages stay in the process. With the thresholds fixed at glibc's
    default (set through MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_), the
    resident memory after the ledger of a 1,048,575-row pass fell from 969 to
    902 MiB. Other C libraries are left as they are.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)
    mallopt(M_TRIM_THRESHOLD, LARGE_BLOCK)


@contextmanager
def collector_paused():
    """Pause the cyclic garbage collector while a stage builds long-lived objects.

    The rows, records and accounts a pass builds live until it ends, and every full
    collection traverses them again. With the collector off, a 100,000-row bench pass
    took 15 s instead of 18 s. The objects are frozen when the stage ends, so later
    collections skip them until `_run_pass` unfreezes them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _run_stages(
    project: Project,
    *,
    as_of: dt.date | None = None,
    dry_run: bool = False,
    rules=None,
    send_mail: bool = True,
    progress: Progress | None = None,
    memo=None,
) -> PassResult:
    started = time.perf_counter()
    step = progress or (lambda name: None)
    given_rules = rules
    check = None
    if not dry_run:
        check = UnchangedCheck.start(project)
        skipped = check.skip_if_unchanged(rules, as_of, started)
        if skipped is not None:
            return skipped
    from engine.inputs import read_inputs
    from engine.workbook_map import load_workbook_map

    if rules is None:
        step("rules")
        rules = load_rules(project)
    workbook_map = load_workbook_map(project.workbook_map_path, project.root)
    if as_of is None:
        as_of = agency_today(rules.timezone)
    result = PassResult(as_of=as_of, dry_run=dry_run)

    step("read")
    try:
        with collector_paused():
            inputs, reads, read_findings = read_inputs(workbook_map, as_of=as_of,
                                                       keep_values=False, memo=memo)
    except EngineError as exc:
        result.findings.extend(exc.findings)
        log.warning("pass as of %s stopped: workbooks could not be read: %s", as_of, exc)
        result.duration = time.perf_counter() - started
        return result
    result.findings.extend(read_findings)
    result.read_stamps = {read.path: read.stamp for read in reads.values()}
    result.counts.update(
        orders=len(inputs.orders),
        payments=len(inputs.payments),
        customers=len(inputs.customers),
        held=len(inputs.held),
    )
    # Most orders show one of a few (status, reason) pairs, so equal pairs share a tuple.
    pairs: dict[tuple, tuple] = {}
    result.previous = {
        order.order_id: pairs.setdefault((order.status, order.reason),
                                         (order.status, order.reason))
        for order in inputs.orders
    }
    # A held orders row has no Order, but its cells show a status too.
    for row in inputs.held:
        if row.kind == "orders" and row.key:
            status = pairs.setdefault(row.current_status, row.current_status)
            result.previous.setdefault(row.key, status)
    del pairs
    changes, incomplete = review_inputs(rules, inputs, workbook_map)
    result.findings.extend(incomplete.findings)

    step("ledger")
    with collector_paused():
        ledger = build_ledger_for(rules, inputs, as_of,
                                  memo=getattr(memo, "ledger", None))
    result.findings.extend(ledger.findings)
    # Past the ledger, payments are read only for their promised dates (mail stage).
    inputs.payments = [payment for payment in inputs.payments
                       if payment.promised_date is not None and payment.reference]

    step("decide")
    from engine.decide import customer_limit_amounts, decide_orders

    decide_findings: list[Finding] = []
    with collector_paused():
        decisions = decide_orders(rules, ledger, inputs, as_of, findings=decide_findings,
                                  changes=changes, incomplete=incomplete)
    result.findings.extend(decide_findings)
    result.decisions = decisions
    add_new_approvals(ledger, decisions, inputs.orders, make_to_base(rules), as_of)
    result.counts["decided"] = len(decisions)
    # Past this point, orders are read only for their promised dates (mail stage).
    inputs.orders = [order for order in inputs.orders if order.promised_date is not None]
    if not dry_run:
        # A writing pass reads `previous` only for decided orders (mail stage); the
        # preview of a dry run reads all of it.
        result.previous = {
            decision.order_id: result.previous[decision.order_id]
            for decision in decisions if decision.order_id in result.previous
        }

    step("write back")
    # The orders sheet is planned and written before the customers' limits and sheet
    # are worked out, because its flags are what a person who just saved the workbook
    # waits for.
    orders_writes = plan_writes(reads, decisions, None, {}, {}, as_of,
                                approvers=rules.approvers, kinds=("orders",))
    state = None if dry_run else open_state(workbook_map.state)
    try:
        if not dry_run:
            if send_mail:
                remember_due_notices(state, decisions, as_of)
            apply_writes(state, result, orders_writes)
        # A customer whose row is held counts in its salesperson's total (decide reads
        # inputs.customers), but gets no figures, report line or letters.
        held = {row.key for row in inputs.held if row.kind == "customers"}
        customers = {c.customer_id: c for c in inputs.customers
                     if c.customer_id not in held}
        # The plan's cell keys are tuples the collector tracks, over a million of
        # them near Excel's row limit.
        with collector_paused():
            limits = customer_limit_amounts(rules, customers, ledger, as_of)
            customers_writes = plan_writes(
                reads, decisions, ledger, figures_known(customers, inputs, incomplete),
                limits, as_of, kinds=("customers",))
        result.planned_writes = orders_writes + customers_writes
        if not dry_run:
            apply_writes(state, result, customers_writes)
            if memo is not None:
                remember_writes(memo, result, result.planned_writes)
            drop_written_cells(result)
            record_decisions(state, decisions, as_of)

            step("report")
            result.report_written = bool(
                guarded(result, "report", write_report_for, state, workbook_map, rules,
                        ledger, customers, limits, as_of)
            )

        if send_mail:
            step("mail")
            # The mail stage's collections then traverse its own objects only.
            gc.freeze()
            from engine.notify import send_mail_for_pass

            guarded(result, "mail", send_mail_for_pass, project, workbook_map, rules,
                    inputs, ledger, customers, limits, result, state,
                    incomplete.reasons, incomplete.reminder_reasons())
        if check is not None and send_mail:
            check.remember_if_clean(state, workbook_map, rules, given_rules, result)
    finally:
        if state is not None:
            state.close()

    result.duration = time.perf_counter() - started
    log.info(
        "pass as of %s: %d orders, %d payments, %d customers read; %d decided; "
        "%d cells written; %d findings; %.2f s",
        as_of, result.counts["orders"], result.counts["payments"],
        result.counts["customers"], len(decisions), result.cells_written,
        len(result.findings), result.duration,
    )
    return result


def add_new_approvals(ledger, decisions, orders, to_base, as_of: dt.date) -> None:
    """Count orders approved in this pass as pending exposure, as the next pass will.

    The ledger is built before the decisions, so without this the customers sheet
    would show the exposure before this pass's approvals and the next pass on the
    same input would rewrite every figure.
    """
    by_id = {order.order_id: order for order in orders}
    for decision in decisions:
        order = by_id.get(decision.order_id)
        if order is None or decision.status != "APPROVED" or order.status == "APPROVED":
            continue
        if order.invoice_date is not None and order.invoice_date <= as_of:
            continue
        try:
            amount = to_base(order.amount, order.currency, order.ref)
        except EngineError:
            continue
        account = ledger.account(order.customer_id)
        if order.customer_id not in ledger.accounts:
            ledger.accounts[order.customer_id] = account
        account.pending += amount
        account.exposure += amount


def review_inputs(rules, inputs, workbook_map):
    """Reopen approvals whose order changed and find customers with unknown exposure.

    Runs before the ledger, so a reopened order is not counted as pending.
    """
    from engine.decide import reopen_changed_approvals
    from engine.decision_log import load_approvals
    from engine.rules.incomplete import find_incomplete

    approvals = load_approvals(workbook_map.state)
    changes = reopen_changed_approvals(inputs, approvals, rules.locale)
    return changes, find_incomplete(rules, inputs)


def figures_known(customers: dict, inputs, incomplete) -> dict:
    """Return the customers whose figures can be written.

    A held customer row, or an incomplete ledger (rows in a currency without a rate,
    or an orders or payments row that could not be read), makes the figures unknown,
    so their cells keep what they show.
    """
    unknown = {row.key for row in inputs.held if row.kind == "customers"}
    unknown.update(incomplete.reasons)
    # TODO: the report workbook and letters still show these customers with the
    # rows that could be converted.
    return {cid: customer for cid, customer in customers.items() if cid not in unknown}


def guarded(result: PassResult, stage: str, function, *args):
    """Run a stage whose failure must not undo the stages before it."""
    try:
        return function(*args)
    except EngineError as exc:
        result.findings.extend(exc.findings)
        log.warning("%s stage failed: %s", stage, exc)
    except Exception as exc:  # noqa: BLE001 - the service must outlive a stage bug
        log.exception("%s stage failed unexpectedly", stage)
        result.findings.add(
            Finding(
                stage,
                f"the {stage} stage failed: {type(exc).__name__}: {exc}.",
                "The workbooks were written; see the service log for details.",
            )
        )
        return None


def write_report_for(state, workbook_map, rules, ledger, customers, limits, as_of) -> bool:
    from engine.decide import salesperson_limit

    salespeople = sorted({c.salesperson for c in customers.values() if c.salesperson})
    sales_limits = {name: salesperson_limit(rules, name).amount for name in salespeople}
    return write_report_if_changed(
        state, workbook_map.report, ledger, customers, limits, sales_limits, as_of,
        rules.base_currency,
    )


def build_ledger_for(rules, inputs, as_of: dt.date, memo=None):
    """Build the ledger, with `memo` (an `engine.ledger_memo.LedgerMemo`) if given."""
    from engine.ledger import build_ledger

    to_base = make_to_base(rules)
    if memo is None:
        ledger = build_ledger(inputs, as_of, to_base)
    else:
        # Everything to_base reads from the rules: a change of rates rebuilds all.
        rates = (rules.base_currency, tuple(sorted(rules.fx_rates.items())))
        ledger = memo.build(inputs, as_of, to_base, rates)
    # engine.rules.currencies reports these once per currency, not once per row.
    ledger.findings = [f for f in ledger.findings if f.code != "currency-rate"]
    return ledger


def make_to_base(rules):
    """Return the converter of amounts in any currency into the base currency.

    Converted amounts are rounded half-up to the cent, as the ledger books them.
    """

    def to_base(amount: Decimal, currency: str, ref) -> Decimal:
        code = (currency or rules.base_currency).strip().upper()
        if code == rules.base_currency:
            return amount
        rate = rules.fx_rates.get(code)
        if rate is None:
            known = ", ".join(sorted(rules.fx_rates)) or "none"
            raise EngineError(
                Finding(
                    str(ref),
                    f"currency '{currency}' has no rate in the FX table (rates: {known}).",
                    "Add it under fx in rules/credit.yaml.",
                    code="currency-rate",
                )
            )
        return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)

    return to_base


# Status fills when the map sets style: {status_colours: true}; Excel's "Good",
# "Bad" and "Neutral" cell-style colours.
STATUS_FILLS = {"APPROVED": "FFC6EFCE", "BLOCKED": "FFFFC7CE", "HELD": "FFFFEB9C"}


def plan_writes(reads, decisions, ledger, customers, limits, as_of,
                approvers=(), kinds=("orders", "customers")) -> list[SheetWrite]:
    """Return the owned cells that differ from the sheets, per sheet of `kinds`."""
    writes: list[SheetWrite] = []
    orders_read = reads.get("orders")
    if orders_read is not None and "orders" in kinds:
        write = plan_orders_write(orders_read, decisions)
        if orders_read.source.override_dropdown and write.cells:
            write.validation = approver_list(orders_read, approvers)
        writes.append(write)
    customers_read = reads.get("customers")
    if customers_read is not None and "customers" in kinds:
        writes.append(plan_customers_write(customers_read, ledger, customers, limits, as_of))
    return [write for write in writes if write.cells]


def new_sheet_write(read) -> SheetWrite:
    from engine.writeback import SheetWrite

    write = SheetWrite(read.path, read.source.sheet, read.shown_as, read.stamp)
    for column, header in read.new_headers.items():
        write.cells[(read.header_row, column)] = header
    return write


def plan_orders_write(read, decisions) -> SheetWrite:
    from engine.writeback import changed_cells

    write = new_sheet_write(read)
    for decision in decisions:
        current = read.owned_at(decision.ref.row)
        new = {"status": decision.status, "reason": decision.reason}
        write.cells.update(
            changed_cells(decision.ref.row, read.owned_columns, current, new,
                          date1904=read.date1904)
        )
    status_column = read.owned_columns.get("status")
    if read.source.status_colours and status_column is not None:
        from engine.xlsx.patch_cells import CellWrite

        for (row, column), value in write.cells.items():
            if column == status_column and row != read.header_row:
                write.cells[(row, column)] = CellWrite(value, fill=STATUS_FILLS.get(value))
    return write


def approver_list(read, approvers):
    """Return the drop-down of approvers for the override approver column, if mapped."""
    from engine.xlsx.validation import ListValidation

    column = read.columns.get("override_approver")
    if column is None or not approvers:
        return None
    first_row = read.source.data_starts or read.header_row + 1
    return ListValidation(column, first_row, tuple(approvers))


def plan_customers_write(read, ledger, customers, limits, as_of) -> SheetWrite:
    from engine.writeback import add_changed_cells, customer_figures
    from engine.xlsx.read import owned_by_row

    write = new_sheet_write(read)
    by_row = {customer.ref.row: customer for customer in customers.values()}
    columns, date1904 = read.owned_columns, read.date1904
    for number, owned in owned_by_row(read.rows):
        customer = by_row.get(number)
        if customer is None:
            continue
        account = ledger.account(customer.customer_id)
        new = customer_figures(account, limits.get(customer.customer_id), as_of)
        add_changed_cells(write.cells, number, columns, owned, new, date1904=date1904)
    return write


def apply_writes(state, result: PassResult, writes: list[SheetWrite] | None = None) -> None:
    """Write each sheet of `writes` (default: `result.planned_writes`).

    A locked sheet's cells are kept pending in `state`; a sheet saved during the pass
    is not written, and the pass is run again.
    """
    from engine.writeback import drop_pending, locked_finding, store_pending
    from engine.xlsx.patch import FileChanged, FileLocked, write_cells

    for write in result.planned_writes if writes is None else writes:
        try:
            stamp = write_cells(
                write.path, write.sheet, write.cells,
                expected=write.expected, shown_as=write.shown_as,
                validation=write.validation,
            )
        except FileLocked as exc:
            owner = getattr(exc, "owner", None)
            store_pending(state, write, owner)
            result.locked[write.path] = owner
            result.findings.add(locked_finding(write.shown_as, owner))
            log.info("%s is locked by %s; %d cells kept pending",
                     write.shown_as, owner or "another user", len(write.cells))
            continue
        except FileChanged:
            result.changed_during_pass.add(write.path)
            log.info("%s changed during the pass; write dropped, pass will rerun",
                     write.shown_as)
            continue
        except EngineError as exc:
            result.findings.extend(exc.findings)
            log.warning("write to %s failed: %s", write.shown_as, exc)
            continue
        drop_pending(state, write.path, write.sheet)
        result.written[write.path] = stamp
        result.cells_written += len(write.cells)
        log.info("wrote %d cells to %s › %s", len(write.cells), write.shown_as, write.sheet)


def remember_writes(memo, result: PassResult, writes: list[SheetWrite]) -> None:
    """Tell the read memo which owned cells this pass wrote, so it need not re-read them."""
    for write in writes:
        stamp = result.written.get(write.path)
        if stamp is not None:
            memo.wrote(write.path, write.sheet, write.cells, stamp)


def drop_written_cells(result: PassResult) -> None:
    """Empty the cells of each planned sheet once written; `cells_written` counts them.

    A customers sheet near Excel's row limit plans over a million cells, which would
    otherwise be kept through the report and mail stages.
    """
    for write in result.planned_writes:
        if write.path in result.written:
            write.cells = {}


def flush_pending(project: Project) -> PassResult:
    """Write results kept while workbooks were locked; report those still locked."""
    from engine.workbook_map import load_workbook_map

    workbook_map = load_workbook_map(project.workbook_map_path, project.root)
    result = PassResult(as_of=dt.date.today(), dry_run=False)
    with pass_lock(project):
        flush_into(result, open_state(workbook_map.state))
    return result


def flush_into(result: PassResult, state) -> None:
    """Apply the pending writes in `state`, then close it."""
    from engine.writeback import drop_pending, load_pending

    try:
        for write, _owner in load_pending(state):
            result.planned_writes.append(write)
        apply_writes(state, result)
        for path in result.changed_during_pass:
            for write in result.planned_writes:
                if write.path == path:
                    drop_pending(state, write.path, write.sheet)
    finally:
        state.close()


def remember_due_notices(state, decisions, as_of: dt.date) -> None:
    """Store the decisions that call for a notice before the orders sheet shows them."""
    from engine.mail import notices_due

    notices_due.remember(state, decisions, as_of.isoformat())


def record_decisions(state, decisions, as_of: dt.date) -> None:
    from engine.decision_log import record_decisions as record

    record(state, decisions, as_of)


def write_report_if_changed(state, path: Path, ledger, customers, limits, sales_limits,
                            as_of, base_currency) -> bool:
    """Write the report workbook unless its content equals the last one written."""
    from engine.report import write_report

    digest = report_digest(ledger, limits, sales_limits, as_of)
    state.execute(
        "CREATE TABLE IF NOT EXISTS report_state (path TEXT PRIMARY KEY, digest TEXT)"
    )
    row = state.execute(
        "SELECT digest FROM report_state WHERE path = ?", (str(path),)
    ).fetchone()
    if row is not None and row["digest"] == digest and path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_report(path, ledger, customers, limits, sales_limits, as_of, base_currency)
    state.execute(
        "INSERT OR REPLACE INTO report_state VALUES (?, ?)", (str(path), digest)
    )
    log.info("wrote report %s", path)
    return True


def report_digest(ledger, limits, sales_limits, as_of) -> str:
    digest = hashlib.sha256(str(as_of).encode())
    for customer_id in sorted(ledger.accounts):
        account = ledger.accounts[customer_id]
        digest.update(
            f"{customer_id}|{account.outstanding}|{account.overdue}|{account.exposure}|"
            f"{sorted(account.buckets.items())}|{limits.get(customer_id)}|"
            f"{len(account.open_items)}\n".encode()
        )
    digest.update(repr(sorted(sales_limits.items(), key=str)).encode())
    return digest.hexdigest()


def summary_counts(result: PassResult) -> dict[str, int]:
    statuses: dict[str, int] = {}
    for decision in result.decisions:
        key = decision.status + (" with warning" if decision.warning else "")
        statuses[key] = statuses.get(key, 0) + 1
    return statuses

