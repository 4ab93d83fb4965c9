"""Replacing a lost card at the service desk with maker-checker (docs/console.md, "The service
desk"): a replacement that moves at most the approval threshold's points and no stored value is
applied at once; a larger one waits in `replacements` for another member (claimed `pending` ->
`applying` in one UPDATE, as adjustments are: `checker`). Money moves only through the running
switch (`gateway`); every step is audited.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from lps.card_replacement import carry_account
from lps.console import audit, cards, checker, gateway, queries
from lps.console.desk import DeskError
from lps.console.i18n import text_refusal, without_card_number
from lps.console.messages import N_
from switch.config import Config
from switch.core.luhn import mask_pan
from switch.core.text import TextError, normalize_text
from switch.customers.inputs import CustomerError
from switch.journal import JournalError

MAX_REASON = 200
_SELECT = checker.select("replacement", ("id", "old_pan", "new_pan", "account", "points",
                                          "stored_value", "reason"))



@dataclass(frozen=True, slots=True)
class Replacement(checker.Reviewed):
    id: int
    old_pan: str
    new_pan: str
    account: int | None
    points: int
    stored_value: int
    reason: str


def parse_replacement(config: Config, old_pan: str, new_text: str, reason: str
                      ) -> tuple[str, str]:
    """(new card, reason) as typed, or the refusal naming what is wrong; the switch checks
    again when it replaces (the card may have changed since)."""
    new = cards.check_pan(new_text)
    if new == old_pan:
        raise DeskError(N_("the new card is the card being replaced"))
    try:
        reason = normalize_text(reason, "the reason", max_length=MAX_REASON)
    except TextError as exc:
        raise text_refusal(exc, "the reason", N_("the reason")) from None
    return new, without_card_number(reason, N_("the reason"))


def request_replacement(cdb: sqlite3.Connection, config: Config, who: str, account: int | None,
                        old_pan: str, new_pan: str, reason: str, threshold: int,
                        now: dt.datetime) -> Replacement:
    """Replace at once when the card holds at most `threshold` points and no stored value;
    otherwise keep the request pending for a checker."""
    view = cards.lookup(config, old_pan, queries.EVERYTHING, now)
    with queries.reading(config.switch.journal) as conn:
        taken = queries.card(conn, new_pan, queries.EVERYTHING, cards.today(config, now))
    if taken is not None:
        raise DeskError(N_("card {card} is already in use: a replacement must be a card never "
                           "enrolled"), card=mask_pan(new_pan))
    coalition = config.coalitions[view.coalition]
    bins = (*coalition.card_bins,
            *(coalition.gift_cards.bins if coalition.gift_cards is not None else ()))
    if not new_pan.startswith(bins):
        raise DeskError(N_("card {card} is outside coalition {coalition}'s card BINs"),
                        card=mask_pan(new_pan), coalition=view.coalition)
    purse = sum(lot.remaining for lot in view.lots if lot.kind == "sv" and lot.remaining > 0)
    points = view.available
    done = points <= threshold and purse == 0
    if done:
        _apply(cdb, config, who, old_pan, new_pan, reason, account, now)
    status = "applied" if done else "pending"
    rid = checker.record(
        cdb, "replacement", ("old_pan", "new_pan", "account", "points", "stored_value",
                             "reason"),
        (old_pan, new_pan, account, points, purse, reason), audit.stamp(now), who, status,
        f"card:{mask_pan(old_pan)}", {"new": mask_pan(new_pan), "points": points,
                                      "stored_value": purse, "reason": reason,
                                      "threshold": threshold})
    return get_replacement(cdb, rid)


def _apply(cdb: sqlite3.Connection, config: Config, who: str, old_pan: str, new_pan: str,
           reason: str, account: int | None, now: dt.datetime) -> None:
    before = cards.lookup(config, old_pan, queries.EVERYTHING, now)
    gateway.replace(config, old_pan, new_pan, reason, f"staff:{who}")
    linked: int | None = None
    problem = ""
    try:
        linked = carry_account(config, old_pan, new_pan, now)
    except (CustomerError, JournalError, OSError, ValueError) as exc:
        problem = str(exc)[:300]
    audit.append(cdb, audit.stamp(now), f"staff:{who}", "card.replace", f"card:{mask_pan(old_pan)}",
                 {"status": before.status, "available": before.available},
                 {"status": "blocked", "replaced_by": mask_pan(new_pan), "reason": reason,
                  "account": linked if linked is not None else account,
                  **({"account_link_failed": problem} if problem else {})})


def get_replacement(cdb: sqlite3.Connection, rid: int) -> Replacement:
    row = cdb.execute(f"{_SELECT} WHERE id = ?", (rid,)).fetchone()
    if row is None:
        raise DeskError(N_("no card replacement #{id}"), id=rid)
    return Replacement(*row)


def shown_replacement(cdb: sqlite3.Connection, rid: int, scope: queries.Scope
                      ) -> Replacement | None:
    """The replacement a page's notice tells of; None when there is none, or for a scoped
    reader (replacements are the whole coalition's, `roles.WHOLE_COALITION`)."""
    if scope.limited:
        return None
    try:
        return get_replacement(cdb, rid)
    except DeskError:
        return None


def replacements(cdb: sqlite3.Connection, limit: int = 100) -> list[Replacement]:
    return [Replacement(*r) for r in cdb.execute(
        f"{_SELECT} ORDER BY id DESC LIMIT ?", (limit,))]


def waiting(cdb: sqlite3.Connection, who: str) -> int:
    """Pending replacements this member could decide (the menu's badge)."""
    return int(cdb.execute("SELECT COUNT(*) FROM replacements WHERE status = 'pending' AND "
                           "maker != ?", (who,)).fetchone()[0])


def decide(cdb: sqlite3.Connection, config: Config, who: str, rid: int, approve: bool,
           now: dt.datetime) -> Replacement:
    """The checker's step: never the maker; an approval replaces through the switch, and a
    refusal there leaves the request pending with the reason."""
    rep = get_replacement(cdb, rid)
    checker.decide(
        cdb, "replacement", rid, rep, approve,
        lambda: _apply(cdb, config, who, rep.old_pan, rep.new_pan, rep.reason, rep.account,
                       now),
        DeskError, audit.stamp(now), who, f"card:{mask_pan(rep.old_pan)}")
    return get_replacement(cdb, rid)
