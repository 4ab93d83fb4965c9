"""Card lookup and the card actions of support: block, unblock, adjust with maker-checker.

Money is read through `queries` (read-only) and changed only through the running switch
(`gateway`). An adjustment above the threshold is stored as pending in the console's database;
another staff member approves it (then it is applied through the switch) or rejects it. An
approval first claims the request (`pending` -> `applying` in one UPDATE), so two checkers, in
one process or in two workers, never apply it twice. Every step is audited.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from lps.console import audit, checker, gateway, queries
from lps.console.i18n import text_refusal, ungrouped, without_card_number
from lps.console.messages import N_, Label, Refusal
from lps.console.queries import CardView, Scope
from switch.config import Config
from switch.core.admin import MAX_ADJUST
from switch.core.calendar import business_day
from switch.core.luhn import luhn_ok, mask_pan
from switch.core.text import TextError, is_digits, normalize_text, parse_int, to_ascii_digits

MAX_REASON = 200
#: The words of a card's and a request's state, as pages show them.
STATES = (N_("active"), N_("blocked"), N_("pending"), N_("applying"), N_("applied"),
          N_("rejected"))
_SELECT = checker.select("adjustment", ("id", "pan", "points", "store_id", "reason"))


class CardError(Refusal):
    """Bad input or a refused action, with a message fit to show."""


@dataclass(frozen=True, slots=True)
class Adjustment(checker.Reviewed):
    id: int
    pan: str
    points: int
    store_id: str
    reason: str



def today(config: Config, now: dt.datetime) -> dt.date:
    cfg = config.switch
    return business_day(now, cfg.zone, cfg.business_day_cutover)


def check_pan(text: str) -> str:
    """The typed card number: Persian and Arabic-Indic digits read as ASCII, groups allowed."""
    pan = to_ascii_digits(text).strip().replace(" ", "").replace("-", "")
    if not (is_digits(pan) and 13 <= len(pan) <= 19 and luhn_ok(pan)):
        raise CardError(N_("enter a card number of 13-19 digits that passes the Luhn check"))
    return pan


def lookup(config: Config, pan: str, scope: Scope, now: dt.datetime) -> CardView:
    with queries.reading(config.switch.journal) as conn:
        view = queries.card(conn, pan, scope, today(config, now))
    if view is None:
        if scope.limited:
            raise CardError(N_("card {card} has no activity at your stores"), card=mask_pan(pan))
        raise CardError(N_("card {card} is not enrolled"), card=mask_pan(pan))
    return view


def _available(config: Config, pan: str, now: dt.datetime) -> int:
    with queries.reading(config.switch.journal) as conn:
        return queries.available(conn, pan, today(config, now))


def reveal(cdb: sqlite3.Connection, who: str, pan: str, now: dt.datetime) -> None:
    """Showing a whole card number is itself an audited act."""
    audit.append(cdb, audit.stamp(now), f"staff:{who}", "card.reveal", f"card:{mask_pan(pan)}")


def set_status(cdb: sqlite3.Connection, config: Config, who: str, action: str, pan: str,
               now: dt.datetime) -> None:
    before = lookup(config, pan, queries.EVERYTHING, now).status
    want = "blocked" if action == "block" else "active"
    if before == want:
        raise CardError(N_("card {card} is already {status}"), card=mask_pan(pan),
                        status=Label(want))
    gateway.card_status(config, action, pan)
    audit.append(cdb, audit.stamp(now), f"staff:{who}", f"card.{action}", f"card:{mask_pan(pan)}",
                 {"status": before}, {"status": want})


def parse_adjustment(config: Config, scope: Scope, points_text: str, store: str,
                     reason: str) -> tuple[int, str, str]:
    """Validate the form: (points, store, reason) or CardError naming the field.

    Points may be typed with Persian digits and thousands separators (`,` or the Arabic `٬`)
    between groups of three (`i18n.ungrouped`);
    the reason is any text people type, Persian with ZWNJ included, stored normalised
    (switch.core.text.normalize_text: NFC, Arabic ي/ك as Persian ی/ک, one line)."""
    try:
        points = parse_int(ungrouped(points_text), "points",
                           minimum=-MAX_ADJUST, maximum=MAX_ADJUST)
    except TextError:
        raise CardError(N_("points must be a whole number like 500 or -200 of at most {max} "
                           "either way, got {typed}"), max=MAX_ADJUST,
                        typed=points_text[:20]) from None
    if points == 0:
        raise CardError(N_("points must not be zero"))
    if store not in config.stores or not scope.sees(store):
        raise CardError(N_("unknown store {store}"), store=store[:20])
    if points < 0 and scope.limited:
        raise CardError(N_("a debit draws points of every store: only staff of the whole "
                           "coalition may make one"))
    try:
        reason = normalize_text(reason, "the reason", max_length=MAX_REASON)
    except TextError as exc:
        raise text_refusal(exc, "the reason", N_("the reason")) from None
    return points, store, without_card_number(reason, N_("the reason"))


def request_adjustment(cdb: sqlite3.Connection, config: Config, who: str, pan: str,
                       points: int, store: str, reason: str, threshold: int, now: dt.datetime,
                       scope: Scope = queries.EVERYTHING) -> Adjustment:
    """Apply at once when |points| <= threshold; otherwise keep it pending for a checker."""
    view = lookup(config, pan, queries.EVERYTHING, now)
    if config.stores[store].coalition != view.coalition:
        raise CardError(N_("store {store} is not in the card's coalition {coalition}"),
                        store=store, coalition=view.coalition)
    if points < 0 and view.available < -points:
        raise CardError(N_("the card has {available} points available, fewer than {wanted}"),
                        available=view.available, wanted=-points)
    status = "pending"
    if abs(points) <= threshold:
        _apply(cdb, config, who, pan, points, store, reason, view.available, now)
        status = "applied"
    aid = checker.record(
        cdb, "adjustment", ("pan", "points", "store_id", "reason"),
        (pan, points, store, reason), audit.stamp(now), who, status, f"card:{mask_pan(pan)}",
        {"points": points, "store": store, "reason": reason, "threshold": threshold})
    return get_adjustment(cdb, aid)


def _apply(cdb: sqlite3.Connection, config: Config, who: str, pan: str, points: int,
           store: str, reason: str, before: int, now: dt.datetime) -> None:
    gateway.adjust(config, pan, points, store, reason, who)
    after = _available(config, pan, now)
    audit.append(cdb, audit.stamp(now), f"staff:{who}", "card.adjust", f"card:{mask_pan(pan)}",
                 {"available": before}, {"available": after, "points": points, "store": store,
                                         "reason": reason})


def get_adjustment(cdb: sqlite3.Connection, aid: int) -> Adjustment:
    row = cdb.execute(f"{_SELECT} WHERE id = ?", (aid,)).fetchone()
    if row is None:
        raise CardError(N_("no adjustment #{id}"), id=aid)
    return Adjustment(*row)


def adjustments(cdb: sqlite3.Connection, scope: Scope = queries.EVERYTHING,
                status: str | None = None, limit: int = 100) -> list[Adjustment]:
    """The newest requests (a scoped reader: those of their stores)."""
    where, args = ("WHERE status = ?", [status]) if status else ("WHERE 1", [])
    extra, ids = scope.sql("store_id")
    return [Adjustment(*r) for r in cdb.execute(
        f"{_SELECT} {where}{extra} ORDER BY id DESC LIMIT ?",
        (*args, *ids, limit))]


def waiting(cdb: sqlite3.Connection, scope: Scope, who: str) -> int:
    """Pending requests this member could decide (the menu's badge)."""
    extra, ids = scope.sql("store_id")
    return int(cdb.execute(
        f"SELECT COUNT(*) FROM adjustments WHERE status = 'pending' AND maker != ?{extra}",
        (who, *ids)).fetchone()[0])


def decide(cdb: sqlite3.Connection, config: Config, who: str, aid: int, approve: bool,
           now: dt.datetime, scope: Scope = queries.EVERYTHING) -> Adjustment:
    """The checker's step: never the maker; an approval is applied through the switch.

    If the switch refuses (say the points were spent meanwhile), the request goes back to
    pending with the reason recorded on it and shown.
    """
    adj = get_adjustment(cdb, aid)
    if not scope.sees(adj.store_id):
        raise CardError(N_("no adjustment #{id}"), id=aid)
    checker.decide(
        cdb, "adjustment", aid, adj, approve,
        lambda: _apply(cdb, config, who, adj.pan, adj.points, adj.store_id, adj.reason,
                       _available(config, adj.pan, now), now),
        CardError, audit.stamp(now), who, f"card:{mask_pan(adj.pan)}")
    return get_adjustment(cdb, aid)

