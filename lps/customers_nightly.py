"""`lps customers segments` and `lps customers nightly`: the club's nightly job from the
command line (docs/customers.md, "Segments" and "The nightly job").

The job is `switch.customers.nightly`; this module gives it the way to the ledger: each bonus
is a points adjustment the switch's core decides (`switch.core.admin.decide_adjust`), each
gift credit a purse credit (`switch.core.purse_credit.decide_purse_credit`), on the
running switch's admin socket, or, when the switch is stopped, appended by the journal from
a state recovered once for the run (as `lps cards` does per command).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import sys
from typing import TYPE_CHECKING

from lps.cli_input import Failed, day, require_journal, whole
from lps.commands import add_config_argument, admin_request, config_from
from switch.config import Config
from switch.core.calendar import business_day
from switch.customers.nightly import NightReport, run_nightly
from switch.journal import open_customers

if TYPE_CHECKING:
    from collections.abc import Callable

    from switch.core.entries import Entry
    from switch.core.state import State
    from switch.journal import Journal

__all__ = ["register_nightly"]

ACTOR = "club-nightly"


class SwitchBonuses:
    """Bonuses through the switch: its admin socket when it runs, else the journal itself."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._journal: Journal | None = None
        self._state: State | None = None

    def adjust(self, pan: str, points: int, store: str, reason: str) -> None:
        from switch.core.admin import adjust_command

        self._decide({"cmd": "adjust", "pan": pan, "points": points, "store": store,
                      "reason": reason, "by": ACTOR},
                     lambda state, now: adjust_command(state, pan, points, store, reason,
                                                       ACTOR, now))

    def credit_purse(self, pan: str, amount: int, store: str, reason: str) -> None:
        from switch.core.purse_credit import purse_credit_command

        self._decide({"cmd": "purse_credit", "pan": pan, "amount": amount, "store": store,
                      "reason": reason, "by": ACTOR},
                     lambda state, now: purse_credit_command(state, pan, amount, store,
                                                             reason, ACTOR, now))

    def _decide(self, request: dict[str, object],
                command: Callable[[State, dt.datetime], Entry]) -> None:
        """`request` on the running switch's admin socket, else `command` decided on a state
        recovered once for the run and appended by the journal."""
        from switch.core.admin import AdminError
        from switch.core.card_store import reading_lots
        from switch.journal import open_journal
        from switch.server import database_in_use

        if database_in_use(self.config.switch.database):
            reply = admin_request(self.config, request)
            if not reply.get("ok"):
                raise AdminError(str(reply.get("error")))
            return
        now = dt.datetime.now(dt.UTC)
        if self._journal is None:
            self._journal = open_journal(self.config.switch.journal)
            self._state = self._journal.load(self.config, None, now, lazy=True)
        state, journal = self._state, self._journal
        assert state is not None
        # A card's lots are read when a command first needs them (`command` decides before it
        # applies, so it is run again after).
        entry = reading_lots(lambda: command(state, now), functools.partial(journal.fill, state))
        journal.append([entry])

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()


def _today(config: Config) -> dt.date:
    s = config.switch
    return business_day(dt.datetime.now(dt.UTC), s.zone, s.business_day_cutover)


def _coalitions(config: Config, wanted: str | None) -> tuple[str, ...]:
    if wanted is None:
        return tuple(config.clubs)
    if wanted not in config.clubs:
        raise Failed(f"no coalition {wanted!r} in {config.path}")
    return (wanted,)


def _print(report: NightReport, messages: bool) -> None:
    for cid, counts in report.segments.items():
        total = sum(counts.values())
        shown = ", ".join(f"{name or 'none'} {n:,}" for name, n in sorted(counts.items()))
        print(f"{cid}: {total:,} customers on {report.day}: {shown or 'none'}")
    if messages:
        queued = ", ".join(f"{k} {n:,}" for k, n in sorted(report.queued.items()))
        print(f"messages queued: {queued or 'none'}; already queued before: {report.already:,}")
        print(f"bonuses granted: {report.bonuses:,} ({report.points:,} points)")
        if report.gifts:
            print(f"gift credit granted: {report.gifts:,} ({report.credit:,} rials to purses)")
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)


def _run(args: argparse.Namespace, messages: bool) -> int:
    config = config_from(args)
    require_journal(config.switch)
    when = args.day or _today(config)
    now = dt.datetime.now(dt.UTC)
    coalitions = _coalitions(config, args.coalition)
    path = SwitchBonuses(config) if messages else None
    customers = open_customers(config.switch.journal)
    try:
        report = run_nightly(customers, config, when, now, path, messages=messages,
                             coalitions=coalitions)
    finally:
        customers.close()
        if path is not None:
            path.close()
    _print(report, messages)
    return 1 if report.problems else 0


def cmd_segments(args: argparse.Namespace) -> int:
    return _run(args, messages=False)


def cmd_nightly(args: argparse.Namespace) -> int:
    return _run(args, messages=True)


def cmd_referral(args: argparse.Namespace) -> int:
    """`lps customers referral ID`: the customer's code to give to friends."""
    from switch.customers import CustomerError
    from switch.customers.referral import code_for

    config = config_from(args)
    require_journal(config.switch)
    customers = open_customers(config.switch.journal)
    try:
        code = code_for(customers, args.account, dt.datetime.now(dt.UTC))
    except CustomerError as exc:
        raise Failed(str(exc)) from None
    finally:
        customers.close()
    print(f"account {args.account}: referral code {code[:4]}-{code[4:]}")
    return 0


def cmd_refer(args: argparse.Namespace) -> int:
    """`lps customers refer ID CODE`: the account came by that customer's code."""
    from lps.cli_input import InputError
    from switch.customers import CustomerError, InvalidValue
    from switch.customers.referral import refer

    config = config_from(args)
    require_journal(config.switch)
    customers = open_customers(config.switch.journal)
    try:
        referrer = refer(customers, args.account, args.code, dt.datetime.now(dt.UTC))
    except InvalidValue as exc:
        raise InputError(str(exc)) from None
    except CustomerError as exc:
        raise Failed(str(exc)) from None
    finally:
        customers.close()
    print(f"account {args.account}: referred by account {referrer}; both get the referral "
          "bonus after its first purchase")
    return 0


def register_nightly(csub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, func, what in (
            ("segments", cmd_segments, "compute every customer's RFM segment"),
            ("nightly", cmd_nightly, "segments, then the day's messages and bonuses")):
        q = csub.add_parser(name, help=what)
        q.add_argument("--day", type=day("--day"),
                       help="the day to compute for, YYYY-MM-DD (default: today's business day)")
        q.add_argument("--coalition", help="only this coalition")
        add_config_argument(q)
        q.set_defaults(func=func)

    account = whole("account", 1)
    q = csub.add_parser("referral", help="a customer's referral code (drawn the first time)")
    q.add_argument("account", type=account,
                   help="the account's number (lps customers search finds it)")
    add_config_argument(q)
    q.set_defaults(func=cmd_referral)

    q = csub.add_parser("refer", help="record that a new customer came by another's code")
    q.add_argument("account", type=account, help="the new customer's account number")
    q.add_argument("code", help="the referral code the customer gave (8 symbols)")
    add_config_argument(q)
    q.set_defaults(func=cmd_refer)
