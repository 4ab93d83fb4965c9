"""A seeded stream of terminal traffic through the real switch core and SQLite journal.

It drives `switch.core.handle` and `SqliteJournal` (switch/journal) exactly as the switch's shell
does (decide, then append the entries in group commits) over several business days: earns,
cross-store burns, coalition-wide purse top-ups and spends, returns, retransmissions,
reversals (some of the previous day's transactions: across midnight and the cutover), one
terminal batch per day closed short by one transaction, and points expiring after two days.
What it records on the side (the switch's in-memory state, the lots' remaining at every day's
end, what was sent) is what the tests compute settlement independently from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path

from iso8583 import FieldValue, Message
from iso8583.loyalty import OriginalData, build_de90, build_tlv
from switch.config import Config, load_config
from switch.core import Entry, handle, new_state
from switch.core.entries import LotDelta
from switch.core.luhn import luhn_complete
from switch.core.model import Lot
from switch.core.state import State
from switch.journal import open_journal
from switch.journal.sqlite.journal import SqliteJournal

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lps.toml"
TERMINALS = {"T0000001": "STORE0000000001", "T0000002": "STORE0000000002",
             "T0000003": "STORE0000000003"}
FIRST_DAY = dt.date(2026, 3, 1)
EXPIRE_DAYS = 2


def sim_config(database: Path) -> Config:
    """The example configuration with short expiry and Enghelab's purse coalition-wide."""
    cfg = load_config(EXAMPLE)
    mall = dataclasses.replace(cfg.coalitions["tehran-mall"],
                               points_expire_after_days=EXPIRE_DAYS)
    s3 = cfg.stores["STORE0000000003"]
    assert s3.stored_value is not None
    s3 = dataclasses.replace(s3, stored_value=dataclasses.replace(s3.stored_value,
                                                                  coalition_wide=True))
    return dataclasses.replace(
        cfg, switch=dataclasses.replace(cfg.switch, database=database),
        coalitions={"tehran-mall": mall}, stores={**cfg.stores, s3.id: s3},
    )


@dataclasses.dataclass
class Sent:
    msg: Message
    rc: str
    journal_id: int
    day: dt.date


@dataclasses.dataclass
class Done:
    """A request the switch answered, as its journal entry recorded it."""

    journal_id: int
    kind: str
    business_day: dt.date
    response_code: str
    store: str
    amount: int
    moves: list[LotDelta]
    original_key: tuple[str, str, str] | None
    reversed: bool = False

    @property
    def approved(self) -> bool:
        return self.response_code == "00"


@dataclasses.dataclass
class Simulation:
    config: Config
    state: State
    days: list[dt.date]
    entries_per_day: dict[dt.date, int]
    #: lot ID -> remaining at the end of each business day (from the switch's memory).
    remaining: dict[dt.date, dict[int, int]]
    lots: dict[int, Lot]
    #: (terminal, batch) closed short on purpose -> the transaction left out of the totals.
    short: dict[tuple[str, str], Sent]
    closes: dict[tuple[str, str], str]
    #: Every request answered (not rejects, not sign-ons), by DE41 + DE11 + DE7, from the
    #: entries the core decided: what the tests compute settlement independently from.
    txns: dict[tuple[str, str, str], Done] = dataclasses.field(default_factory=dict)

    def record(self, entry: Entry) -> None:
        if entry.kind in ("reject", "network", "card_admin"):
            return
        done = Done(entry.id, entry.kind, entry.business_day, entry.response_code,
                    entry.store_id, entry.amount, list(entry.lot_deltas), entry.original_key)
        self.txns[(entry.terminal_id, entry.stan, entry.transmission)] = done
        if entry.kind == "reversal" and entry.detail.get("undone"):
            for t in self.txns.values():
                if t.journal_id == entry.original_id:
                    t.reversed = True


def run(database: Path, seed: int, days: int = 4, events: int = 250,
        journal: str | None = None) -> Simulation:
    """The simulation journaled in the SQLite file `database`, or in the database `journal`
    names (a postgresql:// URL) when given."""
    rng = random.Random(seed)
    cfg = sim_config(database)
    store = SqliteJournal(database) if journal is None else open_journal(journal)
    state = new_state(cfg)
    cards = [luhn_complete(f"628000{n:09d}") for n in range(1, 26)]
    stan = dict.fromkeys(TERMINALS, 0)
    sent: list[Sent] = []
    earns: list[Sent] = []
    pending: list[Entry] = []
    per_day: dict[dt.date, int] = {}
    sim = Simulation(cfg, state, [], per_day, {}, {}, {}, {})

    def send(msg: Message, now: dt.datetime) -> Sent | None:
        d = handle(state, msg, now)
        pending.extend(d.entries)
        for e in d.entries:
            sim.record(e)
        for e in d.entries:
            per_day[e.business_day] = per_day.get(e.business_day, 0) + 1
        if len(pending) >= 40:
            flush()
        if d.response is None or d.retransmission:
            return None
        jid = d.entries[0].id if d.entries else 0
        return Sent(msg, d.response.text(39), jid, d.entries[0].business_day if d.entries
                    else FIRST_DAY)

    def flush() -> None:
        if pending:
            store.append(pending)
            pending.clear()

    def fields(tid: str, now: dt.datetime) -> dict[int, FieldValue]:
        stan[tid] = stan[tid] % 999_999 + 1
        return {7: now.astimezone(dt.UTC).strftime("%m%d%H%M%S"), 11: f"{stan[tid]:06d}",
                41: tid, 42: TERMINALS[tid]}

    def fin(tid: str, now: dt.datetime, pan: str, pc: str, amount: int, batch: str,
            tags: dict[str, str] | None = None) -> Message:
        f = fields(tid, now) | {2: pan, 3: pc, 4: f"{amount:012d}", 62: batch}
        if tags:
            f[48] = build_tlv(tags)
        return Message(mti="0200", fields=f)

    for n in range(days):
        day = FIRST_DAY + dt.timedelta(days=n)
        sim.days.append(day)
        batch = f"{n + 1:06d}"
        # 23:35 Tehran the evening before: after the 23:30 cutover, so already `day`.
        now = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(20, 5), dt.UTC)
        for tid in TERMINALS:
            send(Message(mti="0800", fields=fields(tid, now) | {70: "001"}), now)
        today: list[Sent] = []
        for _ in range(events):
            now += dt.timedelta(minutes=3)
            tid = rng.choice(list(TERMINALS))
            pan = rng.choice(cards)
            roll = rng.random()
            if roll < 0.40:
                msg = fin(tid, now, pan, "000000", rng.randrange(50_000, 2_000_000, 1000), batch)
            elif roll < 0.62:
                msg = fin(tid, now, pan, "900000", rng.randrange(1_000, 120_000, 500), batch)
            elif roll < 0.67:
                msg = fin("T0000003", now, pan, "210060", rng.randrange(100_000, 500_000, 1000),
                          batch)
            elif roll < 0.75:
                msg = fin(tid, now, pan, "006000", rng.randrange(10_000, 150_000, 1000), batch)
            elif roll < 0.78 and earns:
                e = rng.choice(earns)
                amount = int(e.msg.text(4)) // rng.choice((2, 3, 4))
                msg = fin(e.msg.text(41), now, e.msg.text(2), "200000", amount, batch,
                          {"OR": f"{e.journal_id:012d}"})
            elif roll < 0.88 and sent:
                # Mostly today's; a third of them yesterday's (across midnight and cutover).
                pool = [s for s in sent if s.day < day] if rng.random() < 0.33 else today
                pool = pool or sent
                o = rng.choice(pool[-60:])
                od = OriginalData(o.msg.mti, o.msg.text(11), o.msg.text(7))
                ot = o.msg.text(41)
                msg = Message(mti="0400", fields=fields(ot, now) | {
                    2: o.msg.text(2), 3: o.msg.text(3), 4: o.msg.text(4), 90: build_de90(od)})
            elif roll < 0.93 and sent:
                o = rng.choice(sent[-30:])
                send(o.msg, now)  # a retransmission: answered again, changes nothing
                continue
            else:
                msg = Message(mti="0200", fields=fields(tid, now) | {2: pan, 3: "310000"})
            s = send(msg, now)
            if s is None:
                continue
            if s.msg.mti == "0200" and s.msg.text(3) in ("000000", "900000", "006000"):
                sent.append(s)
                today.append(s)
                if s.msg.text(3) == "000000" and s.rc == "00":
                    earns.append(s)
        # Close every terminal's batch; the first terminal with a debit forgets one.
        now += dt.timedelta(minutes=3)
        short_done = False
        for tid in TERMINALS:
            mine = [s for s in sent if s.msg.text(41) == tid and s.msg.text(62) == batch
                    and s.rc == "00"]
            undone = {oid for oid in _reversed(sim, mine)}
            tot = dict.fromkeys((74, 75, 76, 77, 86, 87, 88, 89), 0)
            forgotten = None
            for s in mine:
                debit = s.msg.text(3) != "000000"
                if debit and not short_done:
                    forgotten, short_done = s, True
                    continue
                c, a = (76, 88) if debit else (74, 86)
                tot[c] += 1
                tot[a] += int(s.msg.text(4))
                if s.journal_id in undone:
                    tot[c + 1] += 1
                    tot[a + 1] += int(s.msg.text(4))
            f = fields(tid, now) | {3: "920000", 62: batch}
            f |= {k: f"{v:010d}" if k < 80 else f"{v:016d}" for k, v in tot.items()}
            s = send(Message(mti="0500", fields=f), now)
            assert s is not None
            sim.closes[(tid, batch)] = s.rc
            if forgotten is not None:
                sim.short[(tid, batch)] = forgotten
        flush()
        for t in sim.txns.values():
            for m in t.moves:
                sim.lots[m.lot.id] = m.lot
        sim.remaining[day] = {lid: lot.remaining for lid, lot in sim.lots.items()}
    store.close()
    return sim


def _reversed(sim: Simulation, mine: list[Sent]) -> set[int]:
    """Journal IDs among `mine` the switch reversed (the terminal saw its reversals approved)."""
    by_id = {t.journal_id: t for t in sim.txns.values()}
    return {s.journal_id for s in mine if by_id[s.journal_id].reversed}
