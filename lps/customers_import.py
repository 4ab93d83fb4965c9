"""`lps customers import FILE.csv [--dry-run] [--skip-bad]` (docs/customers.md, "Import"):
the report of refused rows, then all or nothing unless `--skip-bad`."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from lps.cli_input import Failed, InputError, require_journal
from lps.commands import add_config_argument, card_via_switch, config_from
from switch.customers import CustomerError, open_desk
from switch.customers.importer import import_csv

__all__ = ["register_import"]

MAX_BYTES = 64 * 1024 * 1024


def cmd_import(args: argparse.Namespace) -> int:
    from lps.console.cli_audit import append_cli

    config = config_from(args)
    require_journal(config.switch)
    path = Path(args.file)
    try:
        # Read to the bound, not to the end: a device or a pipe has no size to check first.
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise InputError(f"{path}: larger than {MAX_BYTES // 2**20} MiB")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None

    def enroll(pans: list[str]) -> None:
        for pan in pans:
            card_via_switch(config, "enroll", pan, args.coalition)

    with open_desk(config) as desk:
        try:
            report = import_csv(desk, text, dt.datetime.now(dt.UTC), coalition=args.coalition,
                                dry_run=args.dry_run, skip_bad=args.skip_bad,
                                enroll_cards=enroll)
        except CustomerError as exc:
            raise InputError(f"{path}: {exc}") from None
    for r in report.rejected:
        print(f"line {r.line}: refused: {r.reason}")
    print(f"{report.rows} row(s): {report.valid} valid, {len(report.rejected)} refused, "
          f"{report.already} already there; {len(report.new_cards)} card(s) to enrol")
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    if not report.written:
        if report.rejected and not args.skip_bad:
            raise Failed("nothing imported: fix the refused rows, or import the valid ones "
                         "with --skip-bad")
        print("nothing to import")
        return 0
    print(f"imported {len(report.created)} account(s)")
    return append_cli(config.switch.database, "customer.import", f"file:{path.name}", None,
                      {"created": len(report.created), "refused": len(report.rejected),
                       "cards_enrolled": len(report.new_cards)})


def register_import(csub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    q = csub.add_parser("import", help="enrol a member list from a CSV file")
    q.add_argument("file", help="UTF-8 CSV with the header "
                                "name,mobile,email,birth_date,anniversary,cards,sms,email_offers")
    q.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    q.add_argument("--skip-bad", action="store_true",
                   help="import the valid rows even when some are refused")
    q.add_argument("--coalition", help="needed when the switch has several")
    add_config_argument(q)
    q.set_defaults(func=cmd_import)
