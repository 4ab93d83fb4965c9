"""`lps settle` and `lps report`.

`register_commands(subparsers)` is what `lps` (lps/cli.py) calls to add them; this is the
imperative shell: it reads the clock, the configuration and the journal, and writes files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from lps.cli_input import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_SEALED,
    EXIT_USAGE,
    CommandError,
    Failed,
    missing_database,
    whole,
)
from lps.cli_input import day as day_arg
from lps.commands import add_config_argument, config_from
from settlement import render
from settlement.day import DayBook, stores_from_config
from settlement.journal import BATCH_LOOKBACK_DAYS, Journal, settle_journal
from settlement.netting import StoreInfo
from settlement.progress import Bar
from settlement.records import InputError
from settlement.seal import Outcome, Register, default_register
from settlement.summary import summary
from switch.config import Config

log = logging.getLogger("lps.settlement")

#: docs/cli.md's exit codes, under the names settlement's callers know them by.
EXIT_CONFIG = EXIT_USAGE
__all__ = ["EXIT_CONFIG", "EXIT_FAILED", "EXIT_INPUT", "EXIT_SEALED", "cmd_report", "cmd_settle",
           "register_commands"]


class UsageError(CommandError):
    """Options that do not go together: exit 2, as argparse's own usage errors."""

    exit_code = EXIT_USAGE


def _database(args: argparse.Namespace, config: Config) -> str | Path:
    """The journal to settle: `--database` (an SQLite file), else the configured one (a
    PostgreSQL URL as it is)."""
    if not args.database and config.switch.journal_url is not None:
        return config.switch.journal_url
    path = Path(args.database) if args.database else config.switch.database
    if not path.exists():
        raise missing_database(path)
    return path


def _local(args: argparse.Namespace, config: Config) -> Path:
    """The name this node's own files go beside (the registers, the console's database with
    the audit log): the SQLite journal, or on PostgreSQL a name in `[switch] state_dir`
    (docs/deploy.md, "The switch on PostgreSQL")."""
    return Path(args.database) if args.database else config.switch.database


def _audit_home(args: argparse.Namespace, config: Config) -> Path | None:
    """Where an invoice run is audited: beside the journal when there is one to go beside."""
    local = _local(args, config)
    if local.exists() or (not args.database and config.switch.journal_url is not None):
        return local
    return None


def _run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """A file that cannot be written as an exit code; settlement's own errors carry theirs
    (`SettlementError` is a `lps.cli_input.CommandError`)."""
    try:
        return int(func(args))
    except OSError as exc:  # the output directory or a report file cannot be written
        print(f"lps {args.command}: cannot write: {exc}; nothing was sealed", file=sys.stderr)
        return EXIT_FAILED


def cmd_settle(args: argparse.Namespace) -> int:
    return _run(_settle, args)


def _settle(args: argparse.Namespace) -> int:
    from switch.core.calendar import business_day

    started = time.monotonic()
    config = config_from(args)
    day: dt.date = args.date
    now = dt.datetime.now(dt.UTC)
    today = business_day(now, config.switch.zone, config.switch.business_day_cutover)
    if day >= today:
        raise InputError(f"business day {day} is not over yet (it is business day {today} "
                         f"in {config.switch.timezone}); settle it after the cutover")
    database = _database(args, config)
    stores = stores_from_config(config)
    journal = Journal(database)
    try:
        with journal:
            bar = Bar(journal.day_size(day), f"settling {day}", enabled=args.progress)
            result = settle_journal(journal, DayBook(day, stores), bar,
                                    lookback=args.batch_lookback_days, workers=args.workers,
                                    coalitions=config.coalitions)
            bar.finish()
    finally:
        journal.close()
    local = _local(args, config)
    register = Register(Path(args.register) if args.register else default_register(local))
    outcome = _seal(register, day.isoformat(), result.inputs_digest, render.render(result),
                    args, now)
    prev = outcome.previous
    status = STATUS[outcome.status]
    from lps.console.cli_audit import append_cli

    rc = append_cli(local, "settle.reopen" if outcome.status == "reopened" else "settle.run",
                    f"settlement:{day}", None if prev is None else {
                        "inputs_digest": prev.inputs_digest, "out": prev.out_dir},
                    {"inputs_digest": result.inputs_digest, "status": outcome.status,
                     "out": str(outcome.out), "set_aside": None if outcome.set_aside is None
                     else str(outcome.set_aside)})
    print(summary(result, status, str(outcome.out), time.monotonic() - started))
    if outcome.set_aside is not None:
        print(f"  set aside        {outcome.set_aside} (the files sealed before, kept)")
    elif prev is not None and Path(prev.out_dir) != outcome.out:
        print(f"  sealed in        {prev.out_dir} (this run wrote a copy)")
    for month in _months_ending(day, stores):
        print(f"  invoices         month {month} ends with this day: lps report --invoices "
              f"--month {month} --out DIR")
    return rc


def _months_ending(day: dt.date, stores: Mapping[str, StoreInfo]) -> list[str]:
    """The fee months (of each coalition's calendar) whose last day `day` is."""
    from settlement.fees import is_month_end, month_of

    calendars = {s.terms.schedule.calendar for s in stores.values()
                 if s.terms is not None and s.terms.schedule is not None}
    return sorted(month_of(day, c) for c in calendars if is_month_end(day, c))


#: What a seal's outcome is called in the summaries.
STATUS = {"first": "sealed", "identical": "identical to the sealed run",
          "reopened": "REOPENED and sealed again (logged)"}


def _seal(register: Register, key: str, inputs: str, files: dict[str, bytes],
          args: argparse.Namespace, now: dt.datetime) -> Outcome:
    """Seal `files` as `key` under `--out` (closing the register), logging a reopening."""
    try:
        outcome = register.seal(key, inputs, files, Path(args.out),
                                now.isoformat(timespec="seconds"), args.reopen)
    finally:
        register.close()
    prev = outcome.previous
    if outcome.status == "reopened":
        assert prev is not None
        log.warning("reopened %s %s: inputs %s replaced by %s, the sealed files set aside in "
                    "%s (register %s)", register.what, key, prev.inputs_digest, inputs,
                    outcome.set_aside, register.path)
    return outcome


def cmd_report(args: argparse.Namespace) -> int:
    return _run(_report, args)


def _report(args: argparse.Namespace) -> int:
    from settlement import report

    if args.invoices:
        return _invoices(args)
    if args.segments:
        return _segments(args)
    if args.month is not None or args.out is not None or args.reopen:
        raise UsageError("--month, --out and --reopen go with --invoices")
    if args.start is None or args.to is None:
        raise UsageError("--from and --to are needed (or --invoices --month)")
    if args.to < args.start:
        raise InputError(f"--to {args.to} is before --from {args.start}")
    config = config_from(args)
    stores = stores_from_config(config)
    journal = Journal(_database(args, config))
    try:
        with journal:
            rep = report.build(journal, stores, args.start, args.to)
    finally:
        journal.close()
    print(report.text_table(rep))
    if args.csv:
        _write(Path(args.csv), report.csv_bytes(rep))
    if args.html:
        _write(Path(args.html), report.html_page(rep).encode())
    return 0


def _segments(args: argparse.Namespace) -> int:
    """`lps report --segments`: customers per RFM segment as the nightly job last stored
    them (docs/customers.md, "Segments")."""
    from switch.customers import read_segment_counts

    config = config_from(args)
    counts = read_segment_counts(config)
    if not counts:
        print("no segments yet: run lps customers segments (or the nightly job)")
    for c in counts:
        print(f"{c.coalition:<16} {c.segment or 'none':<16} {c.customers:>12,}  {c.day}")
    return 0


def _invoices(args: argparse.Namespace) -> int:
    """`lps report --invoices --month M --out ROOT`: the month's invoices, sealed in ROOT/M."""
    from settlement import invoice
    from settlement.fees import calendar_of_month, parse_month

    if args.start is not None or args.to is not None or args.csv or args.html:
        raise UsageError("--invoices takes --month and --out, not --from, --to, --csv, --html")
    if args.month is None or args.out is None:
        raise UsageError("--invoices needs --month YYYY-MM and --out DIR")
    month = parse_month(args.month)
    calendar = calendar_of_month(month)
    config = config_from(args)
    database = _local(args, config)
    settled = Path(args.register) if args.register else default_register(database)
    if not settled.exists():
        raise Failed(f"no register of settled days at {settled}: lps settle writes it (or "
                     "name it with --register)")
    days = Register(settled)
    try:
        result = invoice.build(month, calendar, stores_from_config(config), days)
    finally:
        days.close()
    register = Register(Path(args.invoice_register) if args.invoice_register
                        else invoice.default_register(database), what="invoiced month")
    outcome = _seal(register, month, result.inputs_digest, invoice.render(result), args,
                    dt.datetime.now(dt.UTC))
    prev = outcome.previous
    rc = 0
    audit_home = _audit_home(args, config)
    if audit_home is not None:  # the audit log lives beside the switch's database
        from lps.console.cli_audit import append_cli

        rc = append_cli(audit_home, "invoices.reopen" if outcome.status == "reopened"
                        else "invoices.run", f"invoices:{month}", None if prev is None else {
                            "inputs_digest": prev.inputs_digest, "out": prev.out_dir},
                        {"inputs_digest": result.inputs_digest, "status": outcome.status,
                         "out": str(outcome.out)})
    status = STATUS[outcome.status]
    print(f"LPS invoices of {calendar} month {month} ({result.days[0]} to {result.days[-1]}): "
          f"{status}")
    for c in sorted({i.coalition for i in result.invoices}):
        mine = [i for i in result.invoices if i.coalition == c]
        print(f"  coalition {c}: {len(mine)} invoices, {sum(i.total for i in mine):,} in total")
    print(f"  files            {outcome.out}")
    if outcome.set_aside is not None:
        print(f"  set aside        {outcome.set_aside} (the files sealed before, kept)")
    return rc


def _write(path: Path, body: bytes) -> None:
    """Write next to the target and rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(body)
    os.replace(tmp, path)


def _add_common(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument("--database", help="the journal (default: [switch] database of the config)")


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("settle", help="settle a business day: netting, expiry, reconciliation")
    _add_common(p)
    p.add_argument("--date", required=True, type=day_arg("--date"),
                   help="the business day to settle, YYYY-MM-DD (Gregorian; over already)")
    p.add_argument("--out", required=True,
                   help="root folder of the settlements: the day's files go into OUT/YYYY-MM-DD/"
                        " (one root for every night keeps every day)")
    p.add_argument("--reopen", action="store_true",
                   help="settle a sealed day again although its inputs changed: audited and "
                        "logged; the sealed folder is kept aside as YYYY-MM-DD.replaced-N")
    p.add_argument("--register", help="register of sealed days (default: <database>"
                                       ".settlement.db beside the journal)")
    p.add_argument("--batch-lookback-days", type=whole("--batch-lookback-days", 0, 366),
                   default=BATCH_LOOKBACK_DAYS,
                   help="oldest transactions a batch closed today may hold (default: %(default)s)")
    p.add_argument("--workers", type=whole("--workers", 0, 256), default=0,
                   help="processes reading the journal (default: one per CPU)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=cmd_settle)

    p = sub.add_parser("report", help="loyalty figures per store and coalition over dates, or "
                                      "the monthly fee invoices")
    _add_common(p)
    p.add_argument("--from", dest="start", type=day_arg("--from"),
                   help="first business day, YYYY-MM-DD (Gregorian)")
    p.add_argument("--to", type=day_arg("--to"),
                   help="last business day, YYYY-MM-DD (included)")
    p.add_argument("--csv", help="also write the table as CSV to this file")
    p.add_argument("--html", help="also write an HTML page with charts to this file")
    p.add_argument("--invoices", action="store_true",
                   help="write the monthly fee invoices of --month instead (HTML and CSV per "
                        "store, sealed)")
    p.add_argument("--month", help="with --invoices: the month YYYY-MM in the calendar of the "
                                   "coalition's fee (1405-09 Jalali, 2026-11 Gregorian)")
    p.add_argument("--out", help="with --invoices: root folder; the month's files go into "
                                 "OUT/YYYY-MM/")
    p.add_argument("--register", help="with --invoices: register of sealed days (default: "
                                      "<database>.settlement.db)")
    p.add_argument("--invoice-register", help="with --invoices: register of sealed invoices "
                                              "(default: <database>.invoices.db)")
    p.add_argument("--segments", action="store_true",
                   help="customers per RFM segment, as the nightly job last computed them")
    p.add_argument("--reopen", action="store_true",
                   help="with --invoices: invoice a sealed month again although its inputs "
                        "changed (logged; the sealed folder is kept aside)")
    p.set_defaults(func=cmd_report)
