"""`lps` commands of the programs: enrollment profiles, bulk card issue, a card's club state.

Registered through `lps.cli.COMMAND_MODULES`. `lps cards enroll PAN --name --phone
--birth-date` (the profile arguments are added to the switch's `cards` command),
`lps cards-issue --bin ... --count N --out cards.csv`, `lps club PAN`, `lps programs reload`
(docs/programs.md, "Changing programs while the switch runs"). Draws are
lps/draw_cli.py.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
from pathlib import Path

from lps.cli_input import (
    Failed,
    InputError,
    card_number,
    day,
    digits,
    name,
    phone,
    require_journal,
    whole,
)
from lps.commands import PAN_HELP, add_config_argument, admin_request, config_from
from lps.console.cli_audit import append_cli
from switch.config import Config, ConfigError
from switch.core.calendar import business_day
from switch.core.luhn import mask_pan
from switch.core.programs.cards import issue_numbers
from switch.core.programs.club import Profile

MAX_NAME = 100


# -- profiles (lps cards enroll) ----------------------------------------------------------------


def add_profile_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", type=name("--name", MAX_NAME),
                   help=f"enroll: the customer's name, 1-{MAX_NAME} characters; Persian with "
                        "ZWNJ is welcome (stored as NFC, Arabic ي/ك as Persian ی/ک)")
    p.add_argument("--phone", type=phone,
                   help="enroll: mobile number, 7-15 digits with an optional leading + "
                        "(Persian digits are read as ASCII)")
    p.add_argument("--birth-date", type=day("--birth-date"),
                   help="enroll: YYYY-MM-DD, Gregorian (the birthday bonus)")


def profile_from_args(args: argparse.Namespace, now: dt.datetime) -> Profile | None:
    """The profile the arguments describe (None: none given); raises InputError."""
    name_, phone_, birth = (getattr(args, k, None) for k in ("name", "phone", "birth_date"))
    if name_ is None and phone_ is None and birth is None:
        return None
    if birth is not None and (birth > now.date() or birth.year < 1900):
        raise InputError(f"--birth-date {birth} is not a plausible birth date")
    return Profile(name_ or "", phone_ or "", birth, now)


def save_profile(config: Config, pan: str, profile: Profile) -> None:
    """Write the profile, and have a running switch load it into its cache at once."""
    from switch.journal import open_journal
    from switch.server import database_in_use

    running = database_in_use(config.switch.database)
    journal = open_journal(config.switch.journal, shared=config.switch.shared)
    try:
        journal.put_profile(pan, profile)
    finally:
        journal.close()
    if running:
        reply = admin_request(config, {"cmd": "profile", "pan": pan})
        if not reply.get("ok"):
            print(f"profile saved; the running switch did not load it: {reply.get('error')} "
                  "(it reads profiles at its next start)", file=sys.stderr)


# -- bulk issue -------------------------------------------------------------------------------


def cmd_issue(args: argparse.Namespace) -> int:
    config = config_from(args)
    coalition = config.coalitions.get(args.coalition) if args.coalition else None
    if args.coalition and coalition is None:
        raise ConfigError(config.path, f"coalition.{args.coalition}", "no such coalition")
    if coalition is not None and not any(args.bin.startswith(b) for b in coalition.card_bins):
        raise InputError(f"BIN {args.bin} is not in coalition {coalition.id}'s card_bins")
    out = Path(args.out)
    if out.exists():
        raise Failed(f"{out} exists; not overwriting a printer file")
    from switch.journal import open_journal

    def choose(taken: set[str]) -> list[str]:
        start = args.start
        if start is None:
            start = max((int(p[len(args.bin):-1]) for p in taken), default=0) + 1
        try:
            chosen = list(issue_numbers(args.bin, args.length, start, args.count, taken))
        except ValueError as exc:
            raise InputError(str(exc)) from None
        _write_printer_file(out, chosen, args.bin, coalition.id if coalition else "")
        return chosen

    journal = open_journal(config.switch.journal, shared=config.switch.shared)
    try:
        # One write transaction: two issues at once cannot hand out the same numbers.
        numbers = journal.reserve_card_numbers(args.bin, args.length, choose, str(out),
                                               dt.datetime.now(dt.UTC))
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        journal.close()
    rc = append_cli(config.switch.database, "cards.issue", f"bin:{args.bin}", None, {
        "count": len(numbers), "first": mask_pan(numbers[0]) if numbers else None,
        "last": mask_pan(numbers[-1]) if numbers else None, "file": str(out)})
    print(f"issued {len(numbers)} card numbers {mask_pan(numbers[0])} .. "
          f"{mask_pan(numbers[-1])} to {out}" if numbers else "issued 0 card numbers")
    return rc


def _write_printer_file(out: Path, numbers: list[str], bin_: str, coalition: str) -> None:
    """The CSV, written whole or not at all (temporary file, fsync, rename)."""
    width = len(numbers[0]) - len(bin_) - 1 if numbers else 0
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["pan", "bin", "serial", "coalition"])
        for pan in numbers:
            w.writerow([pan, bin_, pan[len(bin_):len(bin_) + width], coalition])
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(out)


def cmd_club(args: argparse.Namespace) -> int:
    """A card's program state as the switch will see it at its next message today."""
    from switch.core.programs.club import nightly_tier, rolling_spend
    from switch.journal import open_reader

    config = config_from(args)
    day = today(config)
    reader = open_reader(require_journal(config.switch))
    try:
        card = reader.card(args.pan, club_on=day)
    finally:
        reader.close()
    if card is None:
        raise Failed(f"card {mask_pan(args.pan)} is not enrolled")
    co = config.coalitions.get(card.coalition)
    club = card.club
    print(f"card       {mask_pan(card.pan)}   coalition {card.coalition}   status {card.status}")
    if club is None:
        print("program    no earn yet")
        return 0
    p = club.profile
    if p is not None:
        enrolled = f"{p.enrolled_at:%Y-%m-%d}" if p.enrolled_at else "-"
        print(f"profile    {p.name or '-'}   phone {p.phone or '-'}   born {p.birth_date or '-'}"
              f"   enrolled {enrolled}")
    if co is not None and co.tiers:
        print(f"tier       {nightly_tier(club, co.tiers, day)} (12-month spend "
              f"{rolling_spend(club, day)})")
    print(f"earned     {club.earned_on(day)} points today   birthday bonus year "
          f"{club.birthday_year or '-'}")
    for store in sorted(club.stamps):
        print(f"stamps     {store}: {max(club.stamps[store], 0)}   rewards "
              f"{max(club.rewards.get(store, 0), 0)}")
    return 0


# -- programs reload ----------------------------------------------------------------------------


def cmd_reload(args: argparse.Namespace) -> int:
    from switch.server import database_in_use

    config = config_from(args)  # a file that does not load is refused here already
    if not database_in_use(config.switch.database):
        raise Failed("the switch is not running: it reads its programs when it starts")
    reply = admin_request(config, {"cmd": "reload"})
    if not reply.get("ok"):
        raise Failed(f"refused, the programs in force stay: {reply.get('error')}")
    print(f"programs version {reply.get('version')} in force")
    return 0


def today(config: Config) -> dt.date:
    cfg = config.switch
    return business_day(dt.datetime.now(dt.UTC), cfg.zone, cfg.business_day_cutover)


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cards-issue", help="new Luhn-valid card numbers in a BIN range to a CSV")
    p.add_argument("--bin", required=True, type=digits("--bin", range(6, 12)),
                   help="BIN prefix, 6-11 digits, e.g. 628000")
    p.add_argument("--count", type=whole("--count", 1, 1_000_000), required=True,
                   help="how many numbers to issue (1-1,000,000)")
    p.add_argument("--out", required=True, help="CSV for the card printer (must not exist)")
    p.add_argument("--length", type=whole("--length", 13, 19), default=16,
                   help="card number length, 13-19 (default: %(default)s)")
    p.add_argument("--start", type=whole("--start", 0),
                   help="first serial (default: after the enrolled and issued ones)")
    p.add_argument("--coalition", help="check the BIN belongs to this coalition")
    add_config_argument(p)
    p.set_defaults(func=cmd_issue)

    p = sub.add_parser("club", help="a card's program state: profile, tier, spend, stamps")
    p.add_argument("pan", type=card_number, help=PAN_HELP)
    add_config_argument(p)
    p.set_defaults(func=cmd_club)

    p = sub.add_parser("programs", help="the programs of the running switch")
    actions = p.add_subparsers(dest="programs_action", required=True)
    q = actions.add_parser("reload", help="take the file's programs without a restart "
                                          "(as SIGHUP); refused when more than programs changed")
    add_config_argument(q)
    q.set_defaults(func=cmd_reload)
