"""`lps`: one argparse entry point whose subcommands several packages contribute.

Each module named in `COMMAND_MODULES` (or in the environment variable `LPS_COMMANDS`,
comma-separated) may define `register_commands(subparsers)`; it adds its subparsers and sets
`func` on each to a callable `(args) -> int`. A module that is not installed is skipped, so the
switch works before settlement exists. See docs/switch.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import errno
import importlib
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from lps.cli_input import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_SERVE,
    EXIT_USAGE,
    CommandError,
    Failed,
    InputError,
    card_number,
    require_journal,
)
from lps.cli_input import name as typed_text
from lps.commands import (
    PAN_HELP,
    add_config_argument,
    card_via_switch,
    config_from,
    via_switch,
)
from switch.config import Config, ConfigError
from switch.journal import JournalError

COMMAND_MODULES = ("lps.cli", "lps.settle_cli", "lps.keys_cli", "lps.programs_cli",
                   "lps.coupons_cli", "lps.draw_cli", "lps.console.cli", "lps.messages_cli",
                   "lps.customers_cli")


# -- the switch's own commands ------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from switch.server import install_event_loop, serve

    config = config_from(args)
    logging.basicConfig(
        level=getattr(logging, args.log_level or config.switch.log_level),
        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr,
    )
    loop = install_event_loop(args.loop == "uvloop")
    logging.getLogger("lps.switch").info("event=start loop=%s config=%s", loop, args.config)
    try:
        return asyncio.run(serve(config))  # the switch runs the configured programs
    except OSError as exc:  # a listener cannot bind: one line, no traceback (docs/cli.md)
        print(f"lps serve: {_bind_failure(exc, config)}", file=sys.stderr)
        return EXIT_SERVE


BOUND = re.compile(r"\('([^']*)', (\d+)")
BIND_REASONS = {errno.EADDRINUSE: "the address is in use (another switch or program listens "
                                  "there)",
                errno.EADDRNOTAVAIL: "this machine has no such address",
                errno.EACCES: "permission denied (ports below 1024 need privileges)"}


def _bind_failure(exc: OSError, config: Config) -> str:
    """Which configured address could not be had, and why, in one line.

    asyncio and uvloop name the address in the message; the metrics server (the one listener
    that does not) is the one left."""
    cfg = config.switch
    listeners = {"listen_ascii": cfg.listen_ascii, "listen_bcd": cfg.listen_bcd,
                 "metrics": cfg.metrics}
    reason = BIND_REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    found = BOUND.search(str(exc))
    if found is not None:
        host, port = found.group(1), int(found.group(2))
        key = next((k for k, a in listeners.items()
                    if a is not None and a.host == host and a.port == port), None)
        where = f"{host}:{port}" + (f" ([switch] {key})" if key else "")
    elif exc.errno in BIND_REASONS and cfg.metrics is not None:
        where = f"{cfg.metrics.host}:{cfg.metrics.port} ([switch] metrics)"
    else:
        return f"cannot start: {exc.strerror or exc}"
    return f"cannot listen on {where}: {reason}"


def cmd_cards(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.action == "show":
        return _show(config, args.pan, history=True)
    if args.action == "replace":
        return _replace(config, args)
    if args.new is not None or args.reason is not None:
        raise InputError("a second card number and --reason go with replace")
    from lps.programs_cli import profile_from_args, save_profile

    profile = profile_from_args(args, dt.datetime.now(dt.UTC))
    if profile is not None and args.action != "enroll":
        raise InputError("--name, --phone and --birth-date go with enroll")
    db = config.switch.database
    if args.action != "enroll":
        require_journal(config.switch)  # enroll may create it; block/unblock of nothing: nothing
    before = _card_row(config.switch.journal, args.pan)
    card_via_switch(config, args.action, args.pan, args.coalition)
    from lps.console.cli_audit import append_cli
    from switch.core.luhn import mask_pan

    target = f"card:{mask_pan(args.pan)}"
    rc = append_cli(db, f"card.{args.action}", target, before,
                    _card_row(config.switch.journal, args.pan))
    if profile is not None:
        save_profile(config, args.pan, profile)
        fields = [k for k in ("name", "phone", "birth_date") if getattr(args, k) is not None]
        rc = append_cli(db, "card.profile", target, None, {"fields": fields}) or rc
    print(f"{args.action}: done")
    return _show(config, args.pan, history=False) or rc


def _replace(config: Config, args: argparse.Namespace) -> int:
    """`lps cards replace OLD NEW --reason TEXT`: block OLD and move its lots to NEW
    (switch.core.card_replace), through the running switch or the journal; audited."""
    from lps.card_replacement import carry_account
    from lps.console.cli_audit import append_cli, cli_actor
    from switch.core.admin import AdminError
    from switch.core.card_replace import replace_command
    from switch.core.luhn import mask_pan
    from switch.customers.inputs import CustomerError

    if args.new is None or args.reason is None:
        raise InputError("replace takes the lost card, the new card and --reason TEXT")
    old, new, reason = args.pan, args.new, args.reason
    require_journal(config.switch)
    before = _card_row(config.switch.journal, old)
    by = cli_actor()
    try:
        via_switch(config, {"cmd": "replace", "pan": old, "new": new, "reason": reason,
                            "by": by},
                   lambda state, now: replace_command(state, old, new, reason, by, now))
    except AdminError as exc:
        raise Failed(str(exc)) from None
    rc = append_cli(config.switch.database, "card.replace", f"card:{mask_pan(old)}", before,
                    {"status": "blocked", "replaced_by": mask_pan(new), "reason": reason})
    print(f"replace: card {mask_pan(old)} blocked, its lots moved to {mask_pan(new)}")
    try:
        account = carry_account(config, old, new, dt.datetime.now(dt.UTC))
    except CustomerError as exc:
        print(f"lps cards replace: the card was replaced; the customer account was not "
              f"linked: {exc}", file=sys.stderr)
        rc = rc or EXIT_INPUT
    else:
        if account is not None:
            print(f"customer account {account}: {mask_pan(new)} linked")
    return _show(config, new, history=False) or rc


def _card_row(db: str | Path, pan: str) -> dict[str, str] | None:
    """The card's status and coalition as stored (None: not enrolled), for the audit row."""
    from switch.journal import open_reader

    if isinstance(db, Path) and not db.exists():
        return None
    try:
        reader = open_reader(db)
    except JournalError:  # no tables yet (or a file the change itself will refuse)
        return None
    try:
        card = reader.card(pan)
    finally:
        reader.close()
    return None if card is None else {"status": card.status, "coalition": card.coalition}


def _show(config: Config, pan: str, history: bool) -> int:
    from switch.core.calendar import business_day
    from switch.core.ledger import available_points
    from switch.core.luhn import mask_pan
    from switch.journal import open_reader

    reader = open_reader(require_journal(config.switch))
    try:
        card = reader.card(pan)
        if card is None:
            raise Failed(f"card {mask_pan(pan)} is not enrolled")
        rows = reader.history(pan) if history else []
    finally:
        reader.close()
    cfg = config.switch
    today = business_day(dt.datetime.now(dt.UTC), cfg.zone, cfg.business_day_cutover)
    print(f"card       {mask_pan(pan)}")
    print(f"coalition  {card.coalition}   status {card.status}   enrolled {card.enrolled_on}")
    print(f"points     {available_points(card, today)} available ({card.points} on the card)")
    if card.purse:
        print(f"purse      {card.stored_value}")
    if history:
        print("lots:")
        for lot in sorted(card.lots + card.purse, key=lambda lot: lot.id):
            expires = lot.expires_on.isoformat() if lot.expires_on else "-"
            print(f"  #{lot.id:<8} {lot.kind:6} {lot.store:15} earned {lot.earned_on} "
                  f"expires {expires:10} {lot.remaining:>8} of {lot.initial}")
        print("last journal entries:")
        for r in rows:
            at = r.at.isoformat()[:19] if r.at else ""
            print(f"  #{r.id:<8} {at} {r.kind:12} {r.terminal_id:8} rc={r.response_code} "
                  f"amount={r.amount} points={r.points:+d}")
    return 0


def cmd_balance(args: argparse.Namespace) -> int:
    return _show(config_from(args), args.pan, history=False)


def cmd_check(args: argparse.Namespace) -> int:
    """The money invariants, read-only (the switch may be running): exit 0 sound, 1 broken."""
    import time

    from switch.journal import open_reader

    config = config_from(args)
    reader = open_reader(require_journal(config.switch))
    started = time.perf_counter()
    try:
        result = reader.check(full=args.full)
    finally:
        reader.close()
    seconds = time.perf_counter() - started
    for problem in result.problems:
        print(f"lps check: {problem}")
    print(f"{result.what}: {'BROKEN' if result.problems else 'ok'} ({seconds:.1f} s)")
    return 0 if result.sound else 1


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="check the money invariants (lots, moves, journal)")
    add_config_argument(p)
    p.add_argument("--full", action="store_true",
                   help="re-add the whole history, and check the verified checkpoint against "
                        "it (default: what start-up checks, from the verified checkpoint on)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("serve", help="run the switch")
    add_config_argument(p)
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                   help="event loop (default: uvloop, faster in benches/loadgen)")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="log lines on stderr from this level on (default: [switch] log_level "
                        "of the configuration)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("cards", help="enroll, block, unblock, replace or show a loyalty card")
    p.add_argument("action", choices=("enroll", "block", "unblock", "show", "replace"),
                   help="what to do with the card (replace: block a lost card and move its "
                        "lots to NEW)")
    p.add_argument("pan", type=card_number, help=PAN_HELP)
    p.add_argument("new", nargs="?", type=card_number,
                   help="replace: the new card, never enrolled (" + PAN_HELP + ")")
    p.add_argument("--reason", type=typed_text("the reason", 200),
                   help="replace: why (recorded in the journal and the audit log)")
    p.add_argument("--coalition", help="coalition ID for enroll (default: by BIN)")
    from lps.programs_cli import add_profile_arguments

    add_profile_arguments(p)
    add_config_argument(p)
    p.set_defaults(func=cmd_cards)

    p = sub.add_parser("balance", help="a card's points and stored value")
    p.add_argument("pan", type=card_number, help=PAN_HELP)
    add_config_argument(p)
    p.set_defaults(func=cmd_balance)


# -- the entry point ----------------------------------------------------------------------------


def build_parser(modules: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lps", description="LPS loyalty point switch")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = list(modules if modules is not None else COMMAND_MODULES)
    names += [m for m in os.environ.get("LPS_COMMANDS", "").split(",") if m]
    for name in dict.fromkeys(names):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # that package is not installed (yet): its commands are absent
            raise
        register = getattr(module, "register_commands", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse, run the command, map its errors to the exit codes of docs/cli.md."""
    previous = sys.stdout
    stdout = sys.stdout = ReaderMayLeave(previous)
    try:
        return _run(parser, list(sys.argv[1:] if argv is None else argv))
    finally:
        stdout.flush()
        sys.stdout = previous


def _run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    who = _command_name(parser, argv)
    try:
        args = parser.parse_args(argv)
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"{who}: {exc.prefix}{exc}", file=sys.stderr)
        return exc.exit_code
    except JournalError as exc:
        print(f"{who}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return result


def _command_name(parser: argparse.ArgumentParser, argv: list[str]) -> str:
    """`lps keys new-terminal` for messages: the program and the subcommands named in argv."""
    words = [parser.prog]
    actions = parser._subparsers._group_actions if parser._subparsers else []
    for arg in argv:
        choices = next((a.choices for a in actions
                        if isinstance(a, argparse._SubParsersAction)), None)
        if not isinstance(choices, dict) or arg not in choices:
            break
        words.append(arg)
        sub = choices[arg]
        actions = sub._subparsers._group_actions if sub._subparsers else []
    return " ".join(words)


class ReaderMayLeave:
    """stdout that outlives its reader: once `| head` has gone, output goes to /dev/null.

    The command still runs to its end (an unblock is not left half done because nobody reads
    its answer) and keeps its exit code; there is no BrokenPipeError traceback.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_left = False

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._divert()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._divert()
            self._stream.flush()

    def _divert(self) -> None:
        self.reader_left = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["COMMAND_MODULES", "add_config_argument", "build_parser", "config_from", "main",
           "register_commands"]
