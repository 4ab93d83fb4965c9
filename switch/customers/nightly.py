"""The club's nightly job (docs/customers.md, "The nightly job"): every coalition's RFM
segments, then the messages its triggers make due that day, each bonus a journaled earn made
by the switch.

One ordered read of the accounts with their figures (`SqlClub.rows`) gives both: the segment
each account meets and the triggers that fire for it. Segments are written in short
transactions (the switch keeps committing meanwhile); a bonus goes to the switch through a
`BonusPath` (its admin socket, or the journal when it is stopped) and its message is queued in
the transaction that marks the bonus granted; a message without a bonus is queued with its
day's key. Every key names the customer and the occasion, so running the job twice for a day
queues nothing twice and grants nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from switch.config import Config
from switch.config.club import ClubSettings, Trigger
from switch.core.catalog import Coalition
from switch.core.programs.club import Club, nightly_tier
from switch.customers.dues import NAMELESS, Due, due_messages
from switch.customers.segments import Rfm, classify
from switch.journal import JournalReader, open_reader
from switch.journal.customers import Customers
from switch.journal.sql.club import ClubRow, SqlClub
from switch.messaging.outbox import Channel, NewMessage, OutboxError, enqueue

__all__ = ["BonusPath", "NightReport", "run_nightly", "store_segments"]

log = logging.getLogger("lps.club")

#: How many segment rows and messages one write transaction holds.
WRITE_CHUNK = 2000


class BonusPath(Protocol):
    """How a bonus reaches the ledger: a points adjustment (`switch.core.admin.decide_adjust`)
    or gift credit to the purse (`switch.core.purse_credit.decide_purse_credit`) decided by the
    switch's core. Raises `AdminError` when the switch refuses."""

    def adjust(self, pan: str, points: int, store: str, reason: str) -> None: ...

    def credit_purse(self, pan: str, amount: int, store: str, reason: str) -> None: ...


@dataclass(slots=True)
class NightReport:
    """What one run did, per coalition and in sum."""

    day: dt.date
    segments: dict[str, dict[str, int]] = field(default_factory=dict)
    queued: dict[str, int] = field(default_factory=dict)
    already: int = 0
    bonuses: int = 0
    points: int = 0
    gifts: int = 0
    credit: int = 0
    problems: list[str] = field(default_factory=list)

    def count_queued(self, kind: str, n: int) -> None:
        if n:
            self.queued[kind] = self.queued.get(kind, 0) + n


# -- segments ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Segments:
    """One coalition's computed segments, compact (a million customers in tens of MB)."""

    names: list[str]
    tiers: list[str]
    account: array[int] = field(default_factory=lambda: array("q"))
    tier: array[int] = field(default_factory=lambda: array("h"))
    segment: array[int] = field(default_factory=lambda: array("h"))
    last: array[int] = field(default_factory=lambda: array("q"))
    purchases: array[int] = field(default_factory=lambda: array("q"))
    spend: array[int] = field(default_factory=lambda: array("q"))

    def add(self, row: ClubRow, name: str, tier: str) -> None:
        self.account.append(row.id)
        self.tier.append(self.tiers.index(tier))
        self.segment.append(self.names.index(name))
        self.last.append(row.last_purchase.toordinal() if row.last_purchase else 0)
        self.purchases.append(row.purchases)
        self.spend.append(row.spend)

    def rows(self, start: int, stop: int
             ) -> Iterator[tuple[int, str, dt.date | None, int, int, str]]:
        for i in range(start, min(stop, len(self.account))):
            last = self.last[i]
            yield (self.account[i], self.names[self.segment[i]],
                   dt.date.fromordinal(last) if last else None, self.purchases[i],
                   self.spend[i], self.tiers[self.tier[i]])


def store_segments(customers: Customers, coalition: str, day: dt.date, seg: _Segments) -> None:
    """Write the segments in short transactions, then drop the rows of accounts not met
    (erased since)."""
    club = customers.club
    for start in range(0, len(seg.account), WRITE_CHUNK):
        with customers.transaction():
            club.upsert_segments(coalition, day, seg.rows(start, start + WRITE_CHUNK))
    with customers.transaction():
        club.drop_other_days(coalition, day)


# -- the run ----------------------------------------------------------------------------------


def account_tiers(reader: JournalReader, club: SqlClub, coalition: Coalition, day: dt.date
                  ) -> dict[int, str]:
    """Each account's tier tonight, the highest of its cards' (as the switch's own nightly
    downgrade puts them, `nightly_tier`), for the accounts holding a tier above the lowest."""
    tiers = coalition.tiers
    ranks = [t.name for t in tiers]
    rows = [r for r in reader.tiered_cards() if r[3] == coalition.id]
    out: dict[int, str] = {}
    since = day - dt.timedelta(days=400)
    for start in range(0, len(rows), WRITE_CHUNK):
        part = rows[start:start + WRITE_CHUNK]
        clubs = {pan: Club(tier=tier, tier_day=tier_day) for pan, tier, tier_day, _ in part}
        for pan, spent_on, amount in reader.spend(list(clubs), since, day):
            clubs[pan].spend[spent_on] = amount
        owners = club.owners(list(clubs))
        for pan, one in clubs.items():
            account = owners.get(pan)
            if account is None:
                continue
            tier = nightly_tier(one, tiers, day + dt.timedelta(days=1))
            held = out.get(account)
            if tier in ranks and (held is None or ranks.index(tier) > ranks.index(held)):
                out[account] = tier
    return out


def _read(club: SqlClub, cid: str, settings: ClubSettings, day: dt.date,
          tiers: Mapping[int, str], ranks: Sequence[str],
          sink: Callable[[list[Due]], None] | None = None) -> tuple[_Segments, list[Due]]:
    """The segments of every account, and the messages due: those that grant nothing go to
    `sink` by `WRITE_CHUNK` as the read goes (None: dropped), so memory holds no more than a
    chunk of them; those with a grant are returned (their grants go one by one anyway)."""
    expiring = [settings.triggers.get("expiring"),
                *settings.store_triggers.get("expiring", {}).values()]
    longest = max((t.days for t in expiring if t is not None), default=0)
    lowest = ranks[0] if ranks else ""
    seg = _Segments(["", *settings.segment_names()], ["", *ranks])
    dues: list[Due] = []
    plain: list[Due] = []
    since = day - dt.timedelta(days=settings.window_days - 1)
    for row in club.rows(cid, day, since, day + dt.timedelta(days=longest),
                         home=bool(settings.store_triggers)):
        rfm = Rfm(row.id, row.joined, row.last_purchase, row.purchases, row.spend)
        name = classify(settings.segments, rfm, day)
        tier = tiers.get(row.id, lowest)
        seg.add(row, name, tier)
        for due in due_messages(row, settings, name, day, tier, ranks):
            (dues if due.grants() else plain).append(due)
        if len(plain) >= WRITE_CHUNK:
            if sink is not None:
                sink(plain)
            plain = []
    if plain and sink is not None:
        sink(plain)
    return seg, dues


def _messages(due: Due, cid: str) -> list[NewMessage]:
    out = []
    pairs: tuple[tuple[Channel, str | None], ...] = (("sms", due.mobile), ("email", due.email))
    for channel, address in pairs:
        if address and due.channel in (channel, "both"):
            out.append(NewMessage(channel, address, due.template, f"cust-{due.account_id}",
                                  params=due.params, coalition_id=cid,
                                  store_id=due.store or due.home or None,
                                  dedupe_key=f"{due.key}:{channel}"))
    return out


def _queue(customers: Customers, config: Config, dues: list[Due], cid: str, now: dt.datetime,
           report: NightReport) -> None:
    """Queue the messages of `dues` in transactions of `WRITE_CHUNK`, skipping at once those
    whose key the outbox holds (the outbox would refuse them one by one)."""
    templates = config.messaging.templates if config.messaging is not None else {}
    for start in range(0, len(dues), WRITE_CHUNK):
        chunk = [(due, _messages(due, cid)) for due in dues[start:start + WRITE_CHUNK]]
        queued = customers.club.queued_keys(
            [m.dedupe_key for _due, ms in chunk for m in ms if m.dedupe_key])
        with customers.transaction():
            for due, messages in chunk:
                fresh = [m for m in messages if m.dedupe_key not in queued]
                report.already += len(messages) - len(fresh)
                if fresh:
                    _enqueue(customers, due, fresh, now, templates, report)


def _enqueue(customers: Customers, due: Due, messages: list[NewMessage], now: dt.datetime,
             templates: Mapping[str, Any], report: NightReport) -> None:
    try:
        ids = enqueue(customers.outbox, messages, now, templates)
    except OutboxError as exc:
        report.problems.append(f"customer {due.account_id}: {due.kind} not queued: {exc}")
        return
    report.count_queued(due.kind, sum(1 for i in ids if i is not None))
    report.already += sum(1 for i in ids if i is None)


def _grant(customers: Customers, config: Config, due: Due, cid: str, path: BonusPath,
           now: dt.datetime, report: NightReport) -> None:
    """Each grant of `due` once (`club_bonuses`), then its message in the transaction that
    marks the last one granted."""
    grants = due.grants()
    for i, (key, unit, amount) in enumerate(grants):
        jid = _granted(customers, due, key, unit, amount, path, now, report)
        if jid is None:
            return  # reported; the message waits for every grant
        if jid < 0:
            continue  # granted by an earlier run
        last = i == len(grants) - 1
        templates = config.messaging.templates if config.messaging is not None else {}
        with customers.transaction():
            customers.club.grant_bonus(key, jid)
            if last:
                _enqueue(customers, due, _messages(due, cid), now, templates, report)
                return
    # Every grant was made by an earlier run: its message is queued once by its key.
    _queue(customers, config, [due], cid, now, report)


def _granted(customers: Customers, due: Due, key: str, unit: str, amount: int,
             path: BonusPath, now: dt.datetime, report: NightReport) -> int | None:
    """The journal row of one grant, asking the switch only when the journal has none for its
    key: -1 when an earlier run marked it granted, None when it cannot be made (reported)."""
    club = customers.club
    what = "gift credit" if unit == "rials" else "bonus"
    reason = f"club {due.kind} {'gift' if unit == 'rials' else 'bonus'} {key}"
    found = club.bonus(key)
    if found is None:
        pan = club.bonus_card(due.account_id)
        if pan is None:
            report.problems.append(f"customer {due.account_id}: no active card for the "
                                   f"{due.kind} {what}")
            return None
        with customers.transaction():
            club.start_bonus(key, due.account_id, pan, due.store, amount, now, unit)
        found = ("pending", None, pan)
    state, _jid, pan = found
    if state != "pending":
        return -1
    jid = club.adjustment_for(pan, reason)
    if jid is not None:
        return jid
    from switch.core.admin import AdminError

    try:
        if unit == "rials":
            path.credit_purse(pan, amount, due.store, reason)
        else:
            path.adjust(pan, amount, due.store, reason)
    except AdminError as exc:
        report.problems.append(f"customer {due.account_id}: {due.kind} {what} refused: {exc}")
        return None
    jid = club.adjustment_for(pan, reason)
    if jid is None:
        report.problems.append(f"customer {due.account_id}: {due.kind} {what} not found in "
                               "the journal after the switch approved it")
        return None
    if unit == "rials":
        report.gifts += 1
        report.credit += amount
    else:
        report.bonuses += 1
        report.points += amount
    return jid


def referral_dues(club: SqlClub, cid: str, trigger: Trigger, day: dt.date) -> Iterator[Due]:
    """Both bonuses of each referral whose friend has bought (once each, by their keys)."""
    for friend, referrer, code in club.referrals.due(cid, day):
        for who, role, bonus in ((friend, "friend", trigger.friend_bonus),
                                 (referrer, "referrer", trigger.bonus)):
            params = {"name": who.name or NAMELESS, "date": day.isoformat(), "bonus": bonus,
                      "code": code}
            yield Due(f"referral:{friend.id}:{role}", who.id, "referral", trigger.template,
                      trigger.channel, who.mobile, who.email, params, bonus, trigger.store)


def run_nightly(customers: Customers, config: Config, day: dt.date, now: dt.datetime,
                path: BonusPath | None, *, messages: bool = True,
                coalitions: tuple[str, ...] = ()) -> NightReport:
    """Segments for `day`, then (with `messages`) the day's messages and bonuses; `path`
    None: bonuses are left for a run that can reach the switch (reported)."""
    report = NightReport(day)
    reader = open_reader(config.switch.journal)
    try:
        for cid in coalitions or tuple(config.clubs):
            _coalition(customers, reader, config, cid, day, now, path, messages, report)
    finally:
        reader.close()
    return report


def _coalition(customers: Customers, reader: JournalReader, config: Config, cid: str,
               day: dt.date, now: dt.datetime, path: BonusPath | None, messages: bool,
               report: NightReport) -> None:
    """One coalition's night: segments and tiers, then its messages and bonuses."""
    settings = config.clubs[cid]
    coalition = config.coalitions[cid]
    ranks = [t.name for t in coalition.tiers]
    tiers = account_tiers(reader, customers.club, coalition, day) if ranks else {}

    def sink(plain: list[Due]) -> None:
        _queue(customers, config, plain, cid, now, report)

    seg, dues = _read(customers.club, cid, settings, day, tiers, ranks,
                      sink if messages else None)
    referral = settings.triggers.get("referral")
    if referral is not None:
        dues.extend(referral_dues(customers.club, cid, referral, day))
    store_segments(customers, cid, day, seg)
    counts: dict[str, int] = {}
    for i in seg.segment:
        name = seg.names[i]
        counts[name] = counts.get(name, 0) + 1
    report.segments[cid] = counts
    if not messages:
        return
    plain = [d for d in dues if not d.grants()]   # the referrals' without a bonus
    _queue(customers, config, plain, cid, now, report)
    for due in (d for d in dues if d.grants()):
        if path is None:
            report.problems.append(f"customer {due.account_id}: {due.kind} grant waits "
                                   "for a run that can reach the switch")
            continue
        _grant(customers, config, due, cid, path, now, report)
