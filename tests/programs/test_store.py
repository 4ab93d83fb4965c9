"""Program state survives a restart: the tables rebuild `Card.club`, the journal keeps effects."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from switch.core.programs.club import Profile
from switch.core.programs.rules import program_rules
from switch.journal.sqlite.journal import SqliteJournal
from tests.programs.support import C1, NOW, T1, Harness, card, config_with, tags
from tests.switch.support import earn, reversal


def recovered(path: Path, h: Harness, now: dt.datetime = NOW) -> Harness:
    """Persist what `h` decided, then rebuild a harness from the database alone; it reads the
    journal's rows through the store, left open (pytest's tmp_path goes with the test)."""
    store = SqliteJournal(path)
    store.append(h.entries)
    h.entries = []
    again = Harness.__new__(Harness)
    again.cfg = h.cfg
    again.state = store.load(h.cfg, program_rules(h.cfg), now)
    again.stan = h.stan
    again.entries = []
    again.fetch = store.fetch
    assert store.check(full=True).problems == []
    return again


def test_club_state_and_effects_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "lps.db"
    cfg = config_with(lambda d: d["coalition"]["tehran-mall"].__setitem__("daily_earn_cap", 7000))
    h = Harness(cfg)
    pan = card(1)
    for _ in range(9):
        h.earn(T1, pan, 10_000, now=NOW - dt.timedelta(days=2))
    crossing = earn(T1, 500, pan, 60_000_000)
    assert tags(h.send(crossing))["TR"] == "SILVER"
    before = h.state.cards[pan].club
    h2 = recovered(db, h)
    after = h2.state.cards[pan].club
    assert after is not None and before is not None
    assert (after.tier, after.tier_day, after.spend, after.earned_day, after.earned,
            after.stamps, after.rewards) == (
        before.tier, before.tier_day, before.spend, before.earned_day, before.earned,
        before.stamps, before.rewards)
    assert (after.stamps[C1], after.rewards[C1]) == (0, 1)
    # The reversal after the restart undoes the earn's effect exactly (journal detail.program).
    assert h2.send(reversal(crossing, 501)).fields[39] == "00"
    club = h2.state.cards[pan].club
    assert club is not None
    assert (club.tier, club.stamps[C1], club.rewards[C1], club.earned) == ("BLUE", 9, 0, 0)
    h3 = recovered(db, h2)
    club3 = h3.state.cards[pan].club
    assert club3 is not None and (club3.tier, club3.stamps[C1], club3.rewards[C1]) == (
        "BLUE", 9, 0)
    conn = sqlite3.connect(db)
    detail = conn.execute("SELECT detail FROM journal WHERE stan = '000500'").fetchone()[0]
    assert json.loads(detail)["program"]["tier_after"] == "SILVER"
    assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] >= 4


def test_profile_is_loaded_for_the_birthday_bonus(tmp_path: Path) -> None:
    db = tmp_path / "lps.db"
    h = Harness()
    pan = card(2)
    h.earn(T1, pan, 10_000, now=NOW - dt.timedelta(days=10))
    recovered(db, h)
    journal = SqliteJournal(db)
    journal.put_profile(pan, Profile("Maryam", "+989120000000", dt.date(1991, 11, 22), NOW))
    journal.close()
    h2 = recovered(db, h)
    club = h2.state.cards[pan].club
    assert club is not None and club.profile is not None
    assert club.profile.name == "Maryam"
    assert tags(h2.earn(T1, pan, 100_000))["EP"] == "60"


def test_return_of_an_old_earn_claws_its_own_lots_first(tmp_path: Path) -> None:
    from tests.programs.support import config_with as cw

    cfg = cw(lambda d: d["store"][C1].__setitem__("campaigns", [
        {"name": "c", "from": "2026-10-01", "to": "2026-10-31", "bonus": 40,
         "expire_after_days": 3000}]))
    then = NOW - dt.timedelta(days=40)
    h = Harness(cfg, now=then)
    pan = card(3)
    r = h.earn(T1, pan, 1_000_000, now=then)               # 100 + a 40-point lot of its own
    assert tags(r)["EP"] == "140"
    h.earn(T1, pan, 1_000_000, now=then + dt.timedelta(days=20))   # campaign over: 100
    later = NOW
    h2 = recovered(tmp_path / "lps.db", h, now=later)
    rrn = r.text(37)
    assert h2.state.txns == {}                              # older than the cache
    own = {lot.id for lot in h2.state.cards[pan].lots if lot.earned_on == then.date()}
    assert len(own) == 2
    back = h2.pc(T1, pan, "200000", 1_000_000, now=later, tags={"OR": rrn})
    assert back.fields[39] == "00" and tags(back)["RD"] == "140"
    touched = {d.lot_id for e in h2.entries for d in e.lot_deltas}
    assert touched == own
