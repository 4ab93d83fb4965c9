"""A card's journal rows told in words (docs/customers.md, "History in words"): "earned 15
points at Cafe Naderi", with the store's name from the configuration and the switch's local
time (Tehran), never a kind or a response code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from switch.core.catalog import Store
from switch.core.luhn import mask_pan
from switch.journal.customers import HistoryRow

__all__ = ["HistoryLine", "in_words"]

_WHAT = {
    "earn": "a purchase",
    "advice": "a purchase (sent later by the terminal)",
    "redeem": "paying with points",
    "inquiry": "a balance inquiry",
    "return": "a return",
    "topup": "a purse top-up",
    "sv_purchase": "paying from the purse",
    "stamp": "a stamp reward",
}


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One line of a customer's history: when (local), which card (masked), what, and the
    points and stored value it moved."""

    at: dt.datetime
    card: str
    text: str
    points: int
    stored_value: int
    declined: bool


def _n(value: int, unit: str) -> str:
    return f"{abs(value):,} {unit}{'' if abs(value) == 1 else 's'}"


def _at(store_id: str, stores: Mapping[str, Store]) -> str:
    if not store_id:
        return ""
    store = stores.get(store_id)
    return f" at {store.name if store is not None else store_id}"


def _approved(h: HistoryRow, where: str) -> str:
    r = h.row
    if r.kind == "earn" or r.kind == "advice":
        text = f"earned {_n(r.points, 'point')}{where}"
        return text + (f" on a purchase of {r.amount:,} rials" if r.amount else "")
    if r.kind == "redeem":
        return f"spent {_n(r.points, 'point')}{where} ({r.amount:,} rials paid with points)"
    if r.kind == "inquiry":
        return f"asked for the balance{where}"
    if r.kind == "return":
        return f"returned a purchase{where}: {_n(r.points, 'point')} taken back"
    if r.kind == "topup":
        return f"topped up the purse with {r.sv:,} rials{where} (paid {r.amount:,} rials)"
    if r.kind == "sv_purchase":
        return f"paid {abs(r.sv):,} rials from the purse{where}"
    if r.kind == "stamp":
        return f"took a stamp reward{where}"
    if r.kind == "reversal":
        undone = _WHAT.get(r.original_kind, "a transaction")
        return f"{undone}{where} was cancelled by the terminal" + (
            f" ({r.points:+,} points)" if r.points else "")
    if r.kind == "batch_close":
        return f"closed a terminal's batch{where}"
    if r.kind == "card_admin":
        return _operator(h)
    return f"{r.kind.replace('_', ' ')}{where}"


def _operator(h: HistoryRow) -> str:
    r = h.row
    action = h.action
    because = f" ({h.reason})" if h.reason else ""
    if action == "enroll":
        return "the card was enrolled"
    if action in ("block", "unblock"):
        return f"the card was {action}ed by an operator{because}"
    if action == "adjust":
        verb = "gave" if r.points > 0 else "took"
        return f"an operator {verb} {_n(r.points, 'point')}{because}"
    if action == "purse_credit":
        return f"the club gave {r.sv:,} rials of gift credit to the purse{because}"
    if action in ("set", "reset"):
        return f"the card's PIN was {action}"
    if action == "replace":
        return f"the card was blocked as lost and its points moved to a new card{because}"
    if action == "replaced":
        return f"a lost card's points moved to this card{because}"
    return f"an operator changed the card{because}" + (
        f" ({r.points:+,} points)" if r.points else "")


def _declined(h: HistoryRow, where: str) -> str:
    return f"{_WHAT.get(h.row.kind, 'a request')}{where} was declined"


def in_words(rows: list[HistoryRow], stores: Mapping[str, Store], zone: ZoneInfo
             ) -> list[HistoryLine]:
    """The rows as lines, in the order given (newest first from `Customers.history`)."""
    out = []
    for h in rows:
        r = h.row
        where = _at(r.store_id, stores)
        declined = r.response_code not in ("", "00")
        text = _declined(h, where) if declined else _approved(h, where)
        at = (r.at or dt.datetime.combine(r.business_day, dt.time(), dt.UTC)).astimezone(zone)
        out.append(HistoryLine(at, mask_pan(r.pan), text, 0 if declined else r.points,
                               0 if declined else r.sv, declined))
    return out
