"""`lps customers ...`: the desk's customer accounts from the command line (docs/customers.md,
docs/cli.md). Every operation is `switch.customers.Desk`'s; this module reads arguments,
prints, audits and tells a running switch to reload the profiles it changed.

enroll | update | show | search | link | unlink | import | export | erase | segments | nightly
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable
from typing import TypeVar

from lps.cli_input import MAX_ID, Failed, InputError, card_number, require_journal, whole
from lps.commands import PAN_HELP, add_config_argument, admin_request, card_via_switch, config_from
from switch.config import Config
from switch.core.luhn import mask_pan
from switch.core.mobile import mask_mobile
from switch.core.text import TextError, parse_int
from switch.customers import (
    ChangeForm,
    CustomerError,
    CustomerView,
    Desk,
    EnrolForm,
    Found,
    InvalidValue,
    open_desk,
)
from switch.journal.customers import Erased

__all__ = ["register_commands"]

T = TypeVar("T")
ACCOUNT_HELP = "the account's number (lps customers search finds it)"


def _account_id(text: str) -> int:
    try:
        return parse_int(text, "account", minimum=1, maximum=MAX_ID)
    except TextError as exc:
        raise InputError(str(exc)) from None


def _yes_no(option: str) -> Callable[[str], bool]:
    def convert(text: str) -> bool:
        bare = text.strip().lower()
        if bare in ("yes", "y", "on", "بله", "آری"):
            return True
        if bare in ("no", "n", "off", "خیر", "نه"):
            return False
        raise InputError(f"{option} takes yes or no, got {text[:20]!r}")
    return convert


def _reload(config: Config, pans: Iterable[str]) -> None:
    """Have a running switch load the changed profiles of `pans` (birthday bonus, welcome)."""
    from switch.server import database_in_use

    if not database_in_use(config.switch.database):
        return
    for pan in pans:
        reply = admin_request(config, {"cmd": "profile", "pan": pan})
        if not reply.get("ok"):
            print(f"saved; the running switch did not load card {mask_pan(pan)}'s profile: "
                  f"{reply.get('error')} (it reads profiles at its next start)", file=sys.stderr)


def _audit(config: Config, action: str, account: int, after: object) -> int:
    from lps.console.cli_audit import append_cli

    return append_cli(config.switch.database, f"customer.{action}", f"account:{account}",
                      None, after)


def _refused(exc: CustomerError) -> Failed | InputError:
    """A value that cannot be accepted exits 3, a refusal of the desk 1 (docs/cli.md)."""
    return InputError(str(exc)) if isinstance(exc, InvalidValue) else Failed(str(exc))


# -- enroll -------------------------------------------------------------------------------------


def cmd_enroll(args: argparse.Namespace) -> int:
    config = config_from(args)
    now = dt.datetime.now(dt.UTC)
    form = EnrolForm(name=args.name, mobile=args.mobile, coalition=args.coalition,
                     email=args.email, birth_date=args.birth_date, anniversary=args.anniversary,
                     cards=tuple(args.card or ()), sms=args.sms, emails=args.email_offers)
    require_journal(config.switch)
    with open_desk(config) as desk:
        try:
            # Every field is checked before a card is enrolled: a refusal changes nothing.
            desk.new_account(EnrolForm(form.name, form.mobile, form.coalition, form.email,
                                       form.birth_date, form.anniversary, (), form.sms,
                                       form.emails), now)
        except CustomerError as exc:
            raise _refused(exc) from None
        if args.referred_by is not None:
            _check_referral(desk, args.referred_by)
        missing = [pan for pan in form.cards if desk.customers.card_row(pan) is None]
    for pan in missing:
        card_via_switch(config, "enroll", pan, args.coalition)
    with open_desk(config) as desk:
        try:
            row = desk.enroll(form, now)
            if args.referred_by is not None:
                from switch.customers.referral import refer

                refer(desk.customers, row.id, args.referred_by, now)
        except CustomerError as exc:
            raise _refused(exc) from None
        pans = desk.pans(row.id)
    rc = _audit(config, "enroll", row.id, {"cards": [mask_pan(p) for p in pans],
                                           "enrolled_cards": len(missing)})
    _reload(config, pans)
    print(f"account {row.id}: {row.name}, {mask_mobile(row.mobile or '')}, "
          f"{len(pans)} card(s)")
    return rc


def _check_referral(desk: Desk, typed: str) -> None:
    """`--referred-by`: a code a customer holds, checked before anything is written."""
    from switch.customers.referral import normalize_code

    try:
        if desk.customers.club.referrals.owner(normalize_code(typed)) is None:
            raise Failed("--referred-by: no customer holds this referral code; nothing was "
                         "enrolled")
    except CustomerError as exc:
        raise _refused(exc) from None


# -- show, search, export -----------------------------------------------------------------------


def _print_view(v: CustomerView) -> None:
    a = v.account
    if a.erased:
        print(f"account {a.id}   erased {a.erased_at:%Y-%m-%d} as {a.pseudonym}")
    else:
        print(f"account {a.id}   {a.name or '(no name)'}   coalition {a.coalition}")
        print(f"mobile  {a.mobile or '-'}   email {a.email or '-'}")
        print(f"born    {a.birth_date or '-'}   anniversary {a.anniversary or '-'}")
        consent = {True: "yes", False: "no", None: "not asked"}
        print(f"offers  by SMS {consent[v.sms_consent]}, by email {consent[v.email_consent]}")
    seen = v.last_seen
    print(f"since   {a.created_at:%Y-%m-%d}   last seen {seen:%Y-%m-%d %H:%M}" if seen
          else f"since   {a.created_at:%Y-%m-%d}   last seen never")
    print(f"tier    {v.tier or '-'}   points {v.available_points:,} available "
          f"({v.points:,} on the cards)   purse {v.purse:,} rials")
    for c in v.cards:
        kind = "mobile (virtual)" if c.virtual else "card"
        print(f"  {kind:16} {c.masked}  {c.status:8} points {c.available_points:,}  "
              f"purse {c.purse:,}  tier {c.tier or '-'}")
        for store, (stamps, rewards) in c.stamps.items():
            print(f"      stamps at {store}: {stamps} ({rewards} reward(s) waiting)")
        for lot in c.lots:
            what = "points" if lot.kind == "points" else "rials "
            expires = f"expires {lot.expires_on}" if lot.expires_on else "never expires"
            print(f"      {lot.remaining:>10,} {what} of {lot.initial:,} from {lot.store_name}, "
                  f"{lot.earned_on}, {expires}")
    for note in v.notes:
        print(f"note    {note}")
    if v.history:
        print("history (local time, newest first):")
    for h in v.history:
        print(f"  {h.at:%Y-%m-%d %H:%M}  {h.card}  {h.text}")


def cmd_show(args: argparse.Namespace) -> int:
    _, view = _on_desk(args, lambda d: d.view(args.account, dt.datetime.now(dt.UTC),
                                              history=args.history))
    _print_view(view)
    return 0


def _print_found(found: list[Found]) -> None:
    for f in found:
        a = f.account
        name = a.name if not a.erased else f"(erased: {a.pseudonym})"
        print(f"{a.id:>8}  {a.coalition:14} {f.masked_mobile or '-':14} {name}")


def cmd_search(args: argparse.Namespace) -> int:
    _, found = _on_desk(args, lambda d: d.search(args.text, args.coalition, args.limit))
    if not found:
        raise Failed("no customer found")
    _print_found(found)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    config, data = _on_desk(args, lambda d: d.export(args.account, dt.datetime.now(dt.UTC)))
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if args.out:
        try:
            with open(args.out, "x", encoding="utf-8") as fh:
                fh.write(text)
        except FileExistsError:
            raise Failed(f"{args.out} exists; not overwriting it") from None
        except OSError as exc:
            raise Failed(f"{args.out}: {exc.strerror or exc}") from None
        print(f"account {args.account}'s data written to {args.out}")
    else:
        sys.stdout.write(text)
    return _audit(config, "export", args.account, None)


# -- link, unlink, erase ------------------------------------------------------------------------


def _on_desk(args: argparse.Namespace, action: Callable[[Desk], T]) -> tuple[Config, T]:
    """Run `action` on the desk of the switch's database; a refusal exits 1 or 3."""
    config = config_from(args)
    require_journal(config.switch)
    with open_desk(config) as desk:
        try:
            return config, action(desk)
        except CustomerError as exc:
            raise _refused(exc) from None


def cmd_update(args: argparse.Namespace) -> int:
    form = ChangeForm(name=args.name, mobile=args.mobile, email=args.email,
                      birth_date=args.birth_date, anniversary=args.anniversary, sms=args.sms,
                      emails=args.email_offers)
    if form == ChangeForm():
        raise InputError("nothing to change: give --name, --mobile, --email, --birth-date, "
                         "--anniversary, --sms or --email-offers")
    config, (row, pans) = _on_desk(args, lambda d: (
        d.update(args.account, form, dt.datetime.now(dt.UTC)), d.pans(args.account)))
    fields = [k for k in ("name", "mobile", "email", "birth_date", "anniversary", "sms",
                          "email_offers") if getattr(args, k) is not None]
    rc = _audit(config, "update", row.id, {"fields": fields})
    _reload(config, pans)
    print(f"account {row.id}: {', '.join(fields)} changed")
    return rc


def cmd_link(args: argparse.Namespace) -> int:
    config, _ = _on_desk(args, lambda d: d.link(args.account, [args.card],
                                                 dt.datetime.now(dt.UTC)))
    rc = _audit(config, "link", args.account, {"card": mask_pan(args.card)})
    _reload(config, [args.card])
    print(f"card {mask_pan(args.card)} linked to account {args.account}")
    return rc


def cmd_unlink(args: argparse.Namespace) -> int:
    config, _ = _on_desk(args, lambda d: d.unlink(args.account, args.card))
    rc = _audit(config, "unlink", args.account, {"card": mask_pan(args.card)})
    _reload(config, [args.card])
    print(f"card {mask_pan(args.card)} unlinked from account {args.account}")
    return rc


def cmd_erase(args: argparse.Namespace) -> int:
    def erase(desk: Desk) -> tuple[Erased, list[str]]:
        return desk.erase(args.account, dt.datetime.now(dt.UTC)), desk.pans(args.account)

    config, (done, pans) = _on_desk(args, erase)
    rc = _audit(config, "erase", args.account, {"pseudonym": done.pseudonym,
                                                "consents": done.consents,
                                                "messages": done.messages})
    _reload(config, pans)
    print(f"account {args.account} erased: now {done.pseudonym}; {len(pans)} card(s) and "
          "their money history kept")
    return rc


def _consent_options(q: argparse.ArgumentParser) -> None:
    """`--sms`, `--email-offers` (promotional consent, `message_consent`) and `--config`."""
    q.add_argument("--sms", type=_yes_no("--sms"), help="promotional SMS: yes or no")
    q.add_argument("--email-offers", type=_yes_no("--email-offers"),
                   help="promotional email: yes or no")
    add_config_argument(q)


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("customers", help="customer accounts: enrol, find, show, link cards, "
                                         "import, export, erase")
    csub = p.add_subparsers(dest="customers_command", required=True, metavar="ACTION")

    q = csub.add_parser("enroll", help="a new customer account")
    q.add_argument("--name", required=True, help="full name (Persian with ZWNJ accepted)")
    q.add_argument("--mobile", required=True,
                   help="Iranian mobile, e.g. 09121234567 or +989121234567 (Persian digits "
                        "accepted)")
    q.add_argument("--email", help="email address, e.g. name@example.ir")
    q.add_argument("--birth-date", help="YYYY-MM-DD (Gregorian) or ۱۳۷۰/۰۵/۱۲ (Jalali)")
    q.add_argument("--anniversary", help="wedding anniversary, as --birth-date")
    q.add_argument("--card", action="append", type=card_number,
                   help="a card of the customer (enrolled when it is not yet); repeatable")
    q.add_argument("--coalition", help="needed when the switch has several")
    q.add_argument("--referred-by", metavar="CODE",
                   help="the referral code of the customer who brought this one")
    _consent_options(q)
    q.set_defaults(func=cmd_enroll)

    q = csub.add_parser("update", help="change a customer's profile or consent")
    q.add_argument("account", type=_account_id, help=ACCOUNT_HELP)
    q.add_argument("--name", help="full name (Persian with ZWNJ accepted)")
    q.add_argument("--mobile", help="Iranian mobile, e.g. 09121234567 (Persian digits accepted)")
    q.add_argument("--email", help="email address; an empty value removes it")
    q.add_argument("--birth-date", help="YYYY-MM-DD or ۱۳۷۰/۰۵/۱۲ (Jalali); empty removes it")
    q.add_argument("--anniversary", help="as --birth-date")
    _consent_options(q)
    q.set_defaults(func=cmd_update)

    q = csub.add_parser("show", help="a customer's page: cards, points by lot, history")
    q.add_argument("account", type=_account_id, help=ACCOUNT_HELP)
    q.add_argument("--history", type=whole("--history", 0, 10_000), default=30,
                   help="history lines shown (default 30)")
    add_config_argument(q)
    q.set_defaults(func=cmd_show)

    q = csub.add_parser("search", help="find customers by mobile, card number or name")
    q.add_argument("text", help="a mobile (any form), a card number or part of a name")
    q.add_argument("--coalition", help="only this coalition's customers")
    q.add_argument("--limit", type=whole("--limit", 1, 1_000), default=50,
                   help="names found at most (default 50)")
    add_config_argument(q)
    q.set_defaults(func=cmd_search)

    for name, func, what in (("link", cmd_link, "give a card to an account"),
                             ("unlink", cmd_unlink, "take a card from an account")):
        q = csub.add_parser(name, help=what)
        q.add_argument("account", type=_account_id, help=ACCOUNT_HELP)
        q.add_argument("card", type=card_number, help=PAN_HELP)
        add_config_argument(q)
        q.set_defaults(func=func)

    q = csub.add_parser("export", help="one customer's data as JSON")
    q.add_argument("account", type=_account_id, help=ACCOUNT_HELP)
    q.add_argument("--out", help="write to this new file instead of stdout")
    add_config_argument(q)
    q.set_defaults(func=cmd_export)

    q = csub.add_parser("erase", help="remove a customer's personal data (money history kept)")
    q.add_argument("account", type=_account_id, help=ACCOUNT_HELP)
    add_config_argument(q)
    q.set_defaults(func=cmd_erase)

    from lps.customers_import import register_import
    from lps.customers_nightly import register_nightly

    register_import(csub)
    register_nightly(csub)
