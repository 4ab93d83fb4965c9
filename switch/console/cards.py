"""Card lookup and the card actions of support: block, unblock, adjust with maker-checker.

An adjustment whose size is above the threshold is stored as pending; another staff member
approves it (then it is applied through the switch) or rejects it. Every step is audited.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from switch.config import Config
from switch.console import audit, gateway
from switch.console.adjust import MAX_ADJUST
from switch.core.calendar import business_day
from switch.core.luhn import luhn_ok, mask_pan
from switch.core.text import TextError, is_digits, normalize_text, parse_int, to_ascii_digits

MAX_REASON = 200


class CardError(ValueError):
    """Bad input or a refused action, with a message fit to show."""


@dataclass(slots=True)
class CardView:
    pan: str
    coalition: str
    status: str
    enrolled_on: str
    available: int
    on_card: int
    lots: list[tuple[Any, ...]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Adjustment:
    id: int
    pan: str
    points: int
    store_id: str
    reason: str
    maker: str
    made_at: str
    status: str
    checker: str | None
    decided_at: str | None
    error: str | None


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


def check_pan(text: str) -> str:
    """The typed card number: Persian and Arabic-Indic digits read as ASCII, groups allowed."""
    pan = to_ascii_digits(text).strip().replace(" ", "").replace("-", "")
    if not (is_digits(pan) and luhn_ok(pan)):
        raise CardError("enter a card number of 13-19 digits that passes the Luhn check")
    return pan


def lookup(conn: sqlite3.Connection, config: Config, pan: str, now: dt.datetime) -> CardView:
    row = conn.execute("SELECT coalition_id, status, enrolled_on FROM cards WHERE pan = ?",
                       (pan,)).fetchone()
    if row is None:
        raise CardError(f"card {mask_pan(pan)} is not enrolled")
    cfg = config.switch
    today = business_day(now, cfg.zone, cfg.business_day_cutover).isoformat()
    lots = conn.execute(
        "SELECT id, kind, store_id, earned_on, expires_on, initial, remaining FROM lots "
        "WHERE pan = ? AND remaining != 0 ORDER BY id", (pan,)).fetchall()
    points = [r for r in lots if r[1] == "points"]
    available = sum(r[6] for r in points
                    if r[6] < 0 or r[4] is None or r[4] > today)
    history = conn.execute(
        "SELECT id, at, kind, terminal_id, store_id, response_code, amount, points, sv "
        "FROM journal WHERE pan = ? ORDER BY id DESC LIMIT 20", (pan,)).fetchall()
    return CardView(pan, row[0], row[1], row[2], available, sum(r[6] for r in points), lots,
                    history)


def reveal(conn: sqlite3.Connection, who: str, pan: str, now: dt.datetime) -> None:
    """Showing a whole card number is itself an audited act."""
    audit.append(conn, _iso(now), f"staff:{who}", "card.reveal", f"card:{mask_pan(pan)}")


def set_status(conn: sqlite3.Connection, config: Config, who: str, action: str, pan: str,
               now: dt.datetime) -> None:
    before = lookup(conn, config, pan, now).status
    want = "blocked" if action == "block" else "active"
    if before == want:
        raise CardError(f"card {mask_pan(pan)} is already {want}")
    try:
        gateway.card_status(config, action, pan, now)
    except gateway.GatewayError as exc:
        raise CardError(str(exc)) from None
    audit.append(conn, _iso(now), f"staff:{who}", f"card.{action}", f"card:{mask_pan(pan)}",
                 {"status": before}, {"status": want})


def parse_adjustment(config: Config, pan: str, points_text: str, store: str, reason: str,
                     ) -> tuple[int, str, str]:
    """Validate the form: (points, store, reason) or CardError naming the field.

    Points may be typed with Persian digits and thousands separators (`,` or the Arabic `٬`);
    the reason is any text people type, Persian with ZWNJ included, stored normalised
    (switch.core.text.normalize_text: NFC, Arabic ي/ك as Persian ی/ک, one line)."""
    try:
        points = parse_int(points_text.replace(",", "").replace("\u066c", ""), "points",
                           minimum=-MAX_ADJUST, maximum=MAX_ADJUST)
    except TextError:
        raise CardError(f"points must be a whole number like 500 or -200 of at most "
                        f"{MAX_ADJUST:,} either way, got {points_text[:20]!r}") from None
    if points == 0:
        raise CardError("points must not be zero")
    if store not in config.stores:
        raise CardError(f"unknown store {store[:20]!r}")
    try:
        reason = normalize_text(reason, "the reason", max_length=MAX_REASON)
    except TextError as exc:
        raise CardError(f"{exc}: a reason of 1-{MAX_REASON} characters is required") from None
    return points, store, reason


def request_adjustment(conn: sqlite3.Connection, config: Config, who: str, pan: str,
                       points: int, store: str, reason: str, threshold: int,
                       now: dt.datetime) -> Adjustment:
    """Apply at once when |points| <= threshold; otherwise keep it pending for a checker."""
    view = lookup(conn, config, pan, now)
    if config.stores[store].coalition != view.coalition:
        raise CardError(f"store {store} is not in the card's coalition {view.coalition}")
    if points < 0 and view.available < -points:
        raise CardError(f"the card has {view.available} points available, fewer than "
                        f"{-points}")
    if abs(points) <= threshold:
        _apply(conn, config, who, pan, points, store, reason, view.available, now)
        status = "applied"
    else:
        status = "pending"
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute(
            "INSERT INTO console_adjustments (pan, points, store_id, reason, maker, made_at, "
            "status, checker, decided_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (pan, points, store, reason, who, _iso(now), status,
             who if status == "applied" else None, _iso(now) if status == "applied" else None))
        aid = int(cur.lastrowid or 0)
        audit.append(conn, _iso(now), f"staff:{who}", f"adjustment.{status}",
                     f"card:{mask_pan(pan)}", None,
                     {"adjustment": aid, "points": points, "store": store, "reason": reason,
                      "threshold": threshold})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return get_adjustment(conn, aid)


def _apply(conn: sqlite3.Connection, config: Config, who: str, pan: str, points: int,
           store: str, reason: str, before: int, now: dt.datetime) -> None:
    try:
        gateway.adjust(config, pan, points, store, reason, who, now)
    except gateway.GatewayError as exc:
        raise CardError(str(exc)) from None
    after = lookup(conn, config, pan, now).available
    audit.append(conn, _iso(now), f"staff:{who}", "card.adjust", f"card:{mask_pan(pan)}",
                 {"available": before}, {"available": after, "points": points, "store": store,
                                         "reason": reason})


def get_adjustment(conn: sqlite3.Connection, aid: int) -> Adjustment:
    row = conn.execute(
        "SELECT id, pan, points, store_id, reason, maker, made_at, status, checker, decided_at, "
        "error FROM console_adjustments WHERE id = ?", (aid,)).fetchone()
    if row is None:
        raise CardError(f"no adjustment #{aid}")
    return Adjustment(*row)


def adjustments(conn: sqlite3.Connection, status: str | None = None,
                limit: int = 100) -> list[Adjustment]:
    where, args = ("WHERE status = ?", (status,)) if status else ("", ())
    return [Adjustment(*r) for r in conn.execute(
        "SELECT id, pan, points, store_id, reason, maker, made_at, status, checker, decided_at, "
        f"error FROM console_adjustments {where} ORDER BY id DESC LIMIT ?", (*args, limit))]


def decide(conn: sqlite3.Connection, config: Config, who: str, aid: int, approve: bool,
           now: dt.datetime) -> Adjustment:
    """The checker's step: never the maker; an approval is applied through the switch.

    If the switch refuses (say the points were spent meanwhile), the request stays pending and
    the reason is recorded on it and shown.
    """
    adj = get_adjustment(conn, aid)
    if adj.status != "pending":
        raise CardError(f"adjustment #{aid} is {adj.status} already")
    if adj.maker == who:
        raise CardError("you made this request: another staff member must approve or reject it")
    if approve:
        before = lookup(conn, config, adj.pan, now).available
        try:
            _apply(conn, config, who, adj.pan, adj.points, adj.store_id, adj.reason, before, now)
        except CardError as exc:
            conn.execute("UPDATE console_adjustments SET error = ? WHERE id = ?",
                         (str(exc)[:500], aid))
            raise
    status = "applied" if approve else "rejected"
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("UPDATE console_adjustments SET status = ?, checker = ?, decided_at = ?, "
                     "error = NULL WHERE id = ? AND status = 'pending'",
                     (status, who, _iso(now), aid))
        audit.append(conn, _iso(now), f"staff:{who}", f"adjustment.{status}",
                     f"card:{mask_pan(adj.pan)}", {"adjustment": aid, "status": "pending"},
                     {"adjustment": aid, "status": status, "maker": adj.maker})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return get_adjustment(conn, aid)
