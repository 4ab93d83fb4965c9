"""`lps coupons issue|show|void` (docs/programs.md, "Coupons").

Codes are drawn with `secrets` (the operating system's CSPRNG) and written to the CSV; the
journal keeps only their SHA-256 digests (`switch.core.coupon_code.digest`), so a copy of the
database, a backup or the console gives no code a till would take: the CSV is the one copy,
for the printer or the mailing. `show` and `void` take the code as typed and find it by its
digest. Registered through `lps.cli.COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import os
import secrets
import sys
from pathlib import Path

from lps.cli_input import Failed, InputError, audit_home, day, name, require_journal, whole
from lps.commands import add_config_argument, admin_request, config_from
from lps.console.cli_audit import append_cli
from switch.config import Config
from switch.core import coupon_code
from switch.core.calendar import business_day
from switch.core.limits import DEFAULT_LIMITS
from switch.core.rewards import CouponNeed, CouponTerms

MAX_COUNT = 1_000_000
MAX_SEGMENT = 50


# -- issue --------------------------------------------------------------------------------------


def terms_from_args(config: Config, args: argparse.Namespace, today: dt.date) -> CouponTerms:
    """The issue's terms; raises InputError naming the argument that is wrong."""
    if args.store is not None:
        store = config.stores.get(args.store)
        if store is None:
            raise InputError(f"--store {args.store!r}: no such store in {config.path}")
        coalition, issuer = store.coalition, store.id
    else:
        if args.coalition not in config.coalitions:
            raise InputError(f"--coalition {args.coalition!r}: no such coalition in "
                             f"{config.path}")
        coalition, issuer = args.coalition, ""
        if config.coalitions[coalition].operator is None:
            raise InputError(f"--coalition {coalition}: its operator pays a coalition's coupons "
                             "and the coalition has no [operator] table; issue a --store coupon")
    if args.amount is None and args.percent is None:
        raise InputError("name the discount: --percent P or --amount A")
    if args.max_discount is not None and args.percent is None:
        raise InputError("--max-discount caps a --percent coupon; an --amount is its own cap")
    if args.expires < today:
        raise InputError(f"--expires {args.expires} is before today's business day {today}")
    segments = config.clubs[coalition].segment_names()
    if args.segment and args.segment not in segments:
        raise InputError(f"--segment {args.segment!r}: no such segment of {coalition}; the "
                         f"segments are: {', '.join(segments)} (docs/customers.md, Segments)")
    return CouponTerms(0, coalition, issuer, args.percent or 0, args.amount or 0,
                       args.max_discount or 0, args.min_amount, args.per_customer,
                       args.segment or "", args.expires)


def cmd_issue(args: argparse.Namespace) -> int:
    config = config_from(args)
    terms = terms_from_args(config, args, today(config))
    out = Path(args.out)
    if out.exists():
        raise Failed(f"{out} exists; not overwriting a file of codes")
    codes = _draw(args.count)
    digests = [coupon_code.digest(c) for c in codes]
    from switch.journal import JournalError, open_journal

    journal = open_journal(config.switch.journal)
    try:
        issue = journal.issue_coupons(terms, digests, str(out), dt.datetime.now(dt.UTC),
                                      args.by or "", lambda i: _write_codes(out, codes, i, terms))
    except JournalError as exc:
        raise Failed(str(exc)) from None
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        journal.close()
    rc = append_cli(config.switch.database, "coupons.issue", f"issue:{issue}", None, {
        "count": len(codes), "coalition": terms.coalition, "store": terms.issuer,
        "percent": terms.percent, "amount": terms.amount, "expires": str(terms.expires_on),
        "segment": terms.segment, "file": str(out)})
    print(f"issued {len(codes)} coupons (issue {issue}, {_offer(terms)}) to {out}")
    if terms.segment:
        print(f"only customers in segment {terms.segment!r} can use them (the nightly job's "
              "segments; docs/customers.md, Segments)", file=sys.stderr)
    return rc


def _draw(count: int) -> list[str]:
    """`count` distinct codes from the CSPRNG (a repeat among 2^75 is drawn again)."""
    seen: set[str] = set()
    codes: list[str] = []
    while len(codes) < count:
        code = coupon_code.new_code(secrets.randbelow)
        if code not in seen:
            seen.add(code)
            codes.append(code)
    return codes


def _write_codes(out: Path, codes: list[str], issue: int, terms: CouponTerms) -> None:
    """The CSV, written whole or not at all (temporary file, fsync, rename), readable by its
    owner only: it is the one copy of the codes."""
    tmp = out.with_name(out.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["code", "issue", "coalition", "store", "offer", "min_amount", "expires"])
        offer = _offer(terms)
        for code in codes:
            w.writerow([coupon_code.display(code), issue, terms.coalition, terms.issuer, offer,
                        terms.min_amount, terms.expires_on.isoformat()])
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(out)


def _offer(t: CouponTerms) -> str:
    if t.percent:
        return f"{t.percent}% off" + (f" up to {t.max_discount} IRR" if t.max_discount else "")
    return f"{t.amount} IRR off"


# -- show, void ---------------------------------------------------------------------------------


def _digest_of(typed: str) -> str:
    code, why = coupon_code.normalize(typed)
    if code is None:
        raise InputError(why)
    return coupon_code.digest(code)


def cmd_show(args: argparse.Namespace) -> int:
    from switch.journal import open_reader

    config = config_from(args)
    digest = _digest_of(args.code)
    reader = open_reader(require_journal(config.switch))
    try:
        record = reader.coupon(digest)
    finally:
        reader.close()
    if record is None:
        raise Failed("no such coupon")
    t, st = record.terms, record.state
    where = f"store {t.issuer}" if t.issuer else "the coalition (its operator pays)"
    status = st.status if st.redeemed_by is None else f"{st.status}, used by #{st.redeemed_by}"
    print(f"coupon     issue {t.issue} of {record.issue_count}, coalition {t.coalition}, "
          f"issued by {where}")
    print(f"offer      {_offer(t)}, purchases from {t.min_amount} IRR, until {t.expires_on}")
    if t.per_customer or t.segment:
        print(f"limits     {t.per_customer or 'no'} per card; segment {t.segment or '-'}")
    print(f"status     {status}")
    print(f"issued     {record.issued_at:%Y-%m-%d %H:%M} UTC to {record.file}")
    from switch.core.luhn import mask_pan

    for m in record.moves:
        at = f"{m.at:%Y-%m-%d %H:%M:%S}" if m.at else "-"
        card = mask_pan(m.pan) if m.pan else "-"
        print(f"#{m.journal_id:<8} {at}  {m.action:<8} {m.store_id or '-':<16} "
              f"{m.terminal_id or '-':<9} card {card}  discount {m.discount}")
    return 0


def cmd_void(args: argparse.Namespace) -> int:
    from switch.server import database_in_use

    config = config_from(args)
    digest = _digest_of(args.code)
    db = audit_home(config.switch)
    by = args.by or ""
    if database_in_use(db):
        reply = admin_request(config, {"cmd": "coupon_void", "digest": digest, "by": by})
        if not reply.get("ok"):
            raise Failed(str(reply.get("error")))
    else:
        _void_stopped(config, digest, by)
    rc = append_cli(db, "coupons.void", f"coupon:{digest[:12]}", None, {"by": by})
    print("void: done (a purchase already made with it stands)")
    return rc


def _void_stopped(config: Config, digest: str, by: str) -> None:
    """A void straight into the journal of a switch that is not running."""
    from switch.core.admin import AdminError
    from switch.core.card_store import reading_lots
    from switch.core.coupon import decide_void
    from switch.journal import open_journal
    from switch.server import read_coupon

    found = read_coupon(config.switch.journal, digest)
    journal = open_journal(config.switch.journal)
    try:
        now = dt.datetime.now(dt.UTC)
        state = journal.load(config, None, now, lazy=True)
        try:
            decision = reading_lots(lambda: decide_void(state, CouponNeed(digest), found, now, by),
                                    functools.partial(journal.fill, state))
        except AdminError as exc:
            raise Failed(str(exc)) from None
        journal.append(decision.entries)
    finally:
        journal.close()


def today(config: Config) -> dt.date:
    cfg = config.switch
    return business_day(dt.datetime.now(dt.UTC), cfg.zone, cfg.business_day_cutover)


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("coupons", help="coupons: issue codes to a CSV, show or void one")
    actions = p.add_subparsers(dest="coupons_action", required=True)

    q = actions.add_parser("issue", help="new coupon codes (CSPRNG, check symbol) to a CSV")
    who = q.add_mutually_exclusive_group(required=True)
    who.add_argument("--coalition", help="a coalition's coupon: its operator pays the discount")
    who.add_argument("--store", help="a store's coupon: the store pays the discount")
    q.add_argument("--count", type=whole("--count", 1, MAX_COUNT), required=True,
                   help=f"how many codes, 1-{MAX_COUNT:,}")
    off = q.add_mutually_exclusive_group(required=True)
    off.add_argument("--percent", type=whole("--percent", 1, 100),
                     help="percent off the purchase, 1-100 (rounded down to the rial)")
    off.add_argument("--amount", type=whole("--amount", 1, DEFAULT_LIMITS.max_amount),
                     help="IRR off the purchase (capped at the purchase)")
    q.add_argument("--max-discount", type=whole("--max-discount", 1, DEFAULT_LIMITS.max_amount),
                   help="a --percent coupon's largest discount, IRR")
    q.add_argument("--min-amount", type=whole("--min-amount", 0, DEFAULT_LIMITS.max_amount),
                   default=0, help="the smallest purchase it is taken on, IRR (default 0)")
    q.add_argument("--per-customer", type=whole("--per-customer", 0, 1000), default=0,
                   help="how many codes of this issue one card may use (default 0: no limit)")
    q.add_argument("--segment", type=name("--segment", MAX_SEGMENT),
                   help="only customers of this segment (docs/customers.md, Segments)")
    q.add_argument("--expires", type=day("--expires"), required=True,
                   help="the last business day it is taken, YYYY-MM-DD")
    q.add_argument("--out", required=True, help="the CSV of codes to write (must not exist)")
    q.add_argument("--by", type=name("--by", 100), help="who issues (the journal keeps it)")
    add_config_argument(q)
    q.set_defaults(func=cmd_issue)

    for action, helptext, func in (("show", "a coupon's terms, state and moves", cmd_show),
                                   ("void", "refuse a coupon from now on", cmd_void)):
        q = actions.add_parser(action, help=helptext)
        q.add_argument("code", help="the code as printed; case, spaces, dashes and Persian "
                                    "digits do not matter")
        if action == "void":
            q.add_argument("--by", type=name("--by", 100), help="who voids it")
        add_config_argument(q)
        q.set_defaults(func=func)
