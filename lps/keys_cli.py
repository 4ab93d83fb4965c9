"""`lps keys ...` and `lps pin ...`: the switch's key and PIN commands (docs/security.md).

Registered into `lps` by lps/cli.py's command registry. Each command has the HSM do the
cryptography (`[switch] hsm`: in-process with the LMK file, or `tcp://`), then hands the
switch only what the HSM returned (keys and PINs under the LMK, check values): through the
running switch's admin socket, or straight into its journal when it is stopped.

    lps keys new-terminal TID       a TMK: stored under the LMK, printed as two components
    lps keys load-bdk TID [TID...]  a DUKPT BDK from two clear components read from stdin
    lps keys show                   each terminal's key check values
    lps pin set PAN                 the card's PIN, read from stdin, stored as a PIN under LMK
    lps pin reset PAN               unblock PIN use after three wrong PINs (`75`)
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from hsm_sim.client import Hsm, connect_hsm
from hsm_sim.errors import HsmError
from lps import cli_input
from lps.commands import PAN_HELP, add_config_argument, config_from, via_switch
from lps.console.cli_audit import append_cli
from switch.config import Config
from switch.core.admin import AdminError
from switch.core.luhn import mask_pan
from switch.core.text import to_ascii_digits
from switch.journal import KeyCheckValues
from switch.security.admin import security_command, terminal_id
from switch.security.shell import ensure_lmk


def _stored_rows(config: Config) -> int:
    from switch.journal import open_journal

    if config.switch.journal_url is None and not config.switch.database.exists():
        return 0
    journal = open_journal(config.switch.journal, shared=config.switch.shared)
    try:
        return journal.security_rows()
    finally:
        journal.close()


def open_hsm(config: Config) -> Hsm:
    """The HSM the switch uses; an in-process LMK is created only while nothing depends on one."""
    if config.switch.hsm == "inproc":
        path = ensure_lmk(config, _stored_rows(config))
        return connect_hsm("inproc", lmk_path=path, create_lmk=True)
    return connect_hsm(config.switch.hsm)


def persist(config: Config, request: dict[str, Any]) -> None:
    """Apply a security command to the switch: its admin socket if it runs, else its
    journal (`via_switch`)."""
    via_switch(config, request, lambda state, now: security_command(state, request, now))


def _fail(what: str, exc: Exception) -> int:
    print(f"lps {what}: {exc}", file=sys.stderr)
    return 1


def _groups(hex_text: str) -> str:
    return " ".join(hex_text[i:i + 4] for i in range(0, len(hex_text), 4))


def _check_values(config: Config) -> dict[str, KeyCheckValues]:
    """Each terminal's key check values as the journal holds them (none: no journal yet)."""
    from switch.journal import EmptyDatabase, open_reader

    if config.switch.journal_url is None and not config.switch.database.exists():
        return {}
    try:
        reader = open_reader(config.switch.journal)
    except EmptyDatabase:
        return {}
    try:
        return reader.key_check_values()
    finally:
        reader.close()


def _tmk_kcv(config: Config, tid: str) -> str | None:
    """The check value of the terminal's TMK as the journal holds it (None: no TMK yet)."""
    kcvs = _check_values(config).get(tid)
    return kcvs.tmk if kcvs is not None and kcvs.tmk else None


def cmd_new_terminal(args: argparse.Namespace) -> int:
    config = config_from(args)
    tid = terminal_id(args.tid)
    if tid not in config.terminals:
        return _fail("keys new-terminal", AdminError(f"unknown terminal {args.tid!r}"))
    old_kcv = _tmk_kcv(config, tid)
    if old_kcv is not None and not args.replace:
        return _fail("keys new-terminal", AdminError(
            f"terminal {tid.rstrip()} has a terminal master key already (check value "
            f"{old_kcv}); a new one replaces it and the terminal must then load the new "
            "components: run again with --replace to do that"))
    try:
        hsm = open_hsm(config)
        try:
            tmk = hsm.generate_tmk()
            first, second = hsm.export_tmk_components(tmk.key_lmk)
        finally:
            hsm.close()
        # Stored before anything is printed: components of a key the switch lost are useless.
        persist(config, {"cmd": "set-tmk", "tid": tid, "key": tmk.key_lmk, "kcv": tmk.kcv})
    except (HsmError, AdminError, OSError) as exc:
        return _fail("keys new-terminal", exc)
    rc = append_cli(config.switch.database, "keys.new-terminal", f"terminal:{tid.rstrip()}",
                    None if old_kcv is None else {"tmk_kcv": old_kcv}, {"tmk_kcv": tmk.kcv})
    print(f"terminal {tid.rstrip()}: new terminal master key, check value {tmk.kcv}")
    if old_kcv is not None:
        print(f"  it replaces the key with check value {old_kcv}: until the terminal loads "
              "the new components its key exchange fails")
    print(f"  component 1  {_groups(first.component)}   check value {first.kcv}")
    print(f"  component 2  {_groups(second.component)}   check value {second.kcv}")
    print("Give each component to a different custodian; the terminal loads both (XOR) and")
    print(f"must show check value {tmk.kcv}. The switch keeps the key only under the HSM's LMK.")
    return rc


def cmd_load_bdk(args: argparse.Namespace) -> int:
    config = config_from(args)
    tids = [terminal_id(t) for t in args.tids]
    unknown = [t.rstrip() for t in tids if t not in config.terminals]
    if unknown:
        return _fail("keys load-bdk", AdminError(f"unknown terminals {unknown}"))
    # One component per line; custodians may type it in groups ("0123 4567 ...").
    lines = [to_ascii_digits(line).replace(" ", "") for line in sys.stdin.read().splitlines()
             if line.strip()]
    if len(lines) != 2:
        return _fail("keys load-bdk", AdminError("give two components (32 hex each), one per "
                                                 "line, on stdin"))
    try:
        hsm = open_hsm(config)
        try:
            bdk = hsm.form_key("BDK", lines)
        finally:
            hsm.close()
        for tid in tids:
            persist(config, {"cmd": "set-bdk", "tid": tid, "key": bdk.key_lmk, "kcv": bdk.kcv})
    except (HsmError, AdminError, OSError) as exc:
        return _fail("keys load-bdk", exc)
    rc = append_cli(config.switch.database, "keys.load-bdk",
                    "terminal:" + ",".join(t.rstrip() for t in tids), None, {"bdk_kcv": bdk.kcv})
    print(f"BDK check value {bdk.kcv} loaded for {', '.join(t.rstrip() for t in tids)}")
    return rc


def cmd_show(args: argparse.Namespace) -> int:
    """Which terminals have which keys: check values only (what custodians compare)."""
    config = config_from(args)
    rows = _check_values(config)
    print(f"{'terminal':9} {'store':16} {'TMK':7} {'MAC key':7} {'PIN key':7} {'BDK':7} updated")
    for tid, term in sorted(config.terminals.items()):
        k = rows.get(tid)
        kcvs = (k.tmk, k.mac, k.pin, k.bdk) if k is not None else (None,) * 4
        cells = " ".join(f"{v or '-':7}" for v in kcvs)
        updated = k.updated_at if k is not None else None
        print(f"{tid.rstrip():9} {term.store:16} {cells} {(updated or '-')[:19]}")
    return 0


def _read_pin() -> str:
    """The PIN as typed; Persian digits are read as ASCII (docs/cli.md)."""
    if sys.stdin.isatty():
        return to_ascii_digits(getpass.getpass("PIN: "))
    return to_ascii_digits(sys.stdin.readline().strip())


def cmd_pin(args: argparse.Namespace) -> int:
    config = config_from(args)
    cli_input.require_journal(config.switch)  # no card has a PIN in no journal
    request: dict[str, Any] = {"cmd": "set-pin" if args.action == "set" else "pin-reset",
                               "pan": args.pan}
    try:
        if args.action == "set":
            hsm = open_hsm(config)
            try:
                request["pin"] = hsm.encrypt_pin(_read_pin(), args.pan)
            finally:
                hsm.close()
        persist(config, request)
    except (HsmError, AdminError, OSError) as exc:
        return _fail(f"pin {args.action}", exc)
    rc = append_cli(config.switch.database, f"pin.{args.action}", f"card:{mask_pan(args.pan)}")
    done = "PIN set" if args.action == "set" else "PIN tries reset"
    print(f"{done} for card {mask_pan(args.pan)}")
    return rc


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="terminal keys (TMK, DUKPT BDK) through the HSM")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")
    p = ksub.add_parser("new-terminal", help="a new TMK for a terminal, printed as components")
    p.add_argument("tid", type=cli_input.terminal_id, help="terminal ID (DE41)")
    p.add_argument("--replace", action="store_true",
                   help="replace the terminal's existing TMK (its old and new check values "
                        "are printed); without it a terminal with a TMK is refused")
    add_config_argument(p)
    p.set_defaults(func=cmd_new_terminal)
    p = ksub.add_parser("load-bdk", help="a DUKPT BDK from two components on stdin")
    p.add_argument("tids", nargs="+", metavar="TID", type=cli_input.terminal_id,
                   help="terminals that use this BDK")
    add_config_argument(p)
    p.set_defaults(func=cmd_load_bdk)

    p = ksub.add_parser("show", help="the terminals' key check values")
    add_config_argument(p)
    p.set_defaults(func=cmd_show)

    pin = sub.add_parser("pin", help="set a card's PIN (stdin) or reset its PIN tries")
    pin.add_argument("action", choices=("set", "reset"),
                     help="set: a new PIN read from stdin; reset: allow PIN tries again")
    pin.add_argument("pan", type=cli_input.card_number, help=PAN_HELP)
    add_config_argument(pin)
    pin.set_defaults(func=cmd_pin)
