"""The nightly pieces (expiry with breakage, tier downgrades) and the programs' lps commands."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lps.cli import main as lps_main
from switch.core.luhn import luhn_ok
from switch.core.programs.cards import issue_numbers
from switch.core.programs.club import Club, ClubEffect, apply, nightly_tier
from switch.core.programs.draw import Entrant, draw
from switch.core.programs.nightly import expire_due, tier_downgrades
from switch.journal import open_journal
from switch.journal.sqlite.journal import SqliteJournal
from tests.programs.support import C1, C3, NOW, T1, T3, Harness, card, tags
from tests.switch.support import request
from tests.switch.test_crash import write_config

DAY = dt.date(2026, 11, 23)


def test_expire_due_with_breakage_per_issuing_store() -> None:
    h = Harness()
    pan = card(1)
    for ago, tid in ((365, T1), (365, T3), (364, T1)):
        when = NOW - dt.timedelta(days=ago)
        h.earn(tid, pan, 1_000_000, now=when)
    lots = h.state.cards[pan].lots
    result = expire_due(lots, DAY)
    assert [lapse.points for lapse in result.lapses] == [100, 50]
    assert dict(result.breakage) == {C1: 100, C3: 50}
    # A burn today cannot use them any more: only the lot expiring tomorrow is usable.
    r = h.pc(T1, pan, "900000", 1, tags={"RP": "101"})
    assert r.fields[39] == "51"
    assert tags(h.pc(T1, pan, "900000", 1, tags={"RP": "100"}))["RD"] == "100"


def test_tier_downgrades_report_what_the_switch_will_do() -> None:
    h = Harness()
    a, b = card(2), card(3)
    h.earn(T1, a, 60_000_000, now=NOW - dt.timedelta(days=366))
    h.earn(T1, b, 60_000_000, now=NOW - dt.timedelta(days=300))
    downs = tier_downgrades(h.state.cards.values(), h.cfg.coalitions, DAY)
    assert [(d.pan, d.before, d.after) for d in downs] == [(a, "SILVER", "BLUE")]
    assert tags(h.earn(T1, a, 10_000))["TR"] == "BLUE"
    assert tags(h.earn(T1, b, 10_000))["TR"] == "SILVER"
    assert tier_downgrades(h.state.cards.values(), h.cfg.coalitions, DAY) == []


def test_nightly_tier_never_upgrades() -> None:
    tiers = Harness().cfg.coalitions["tehran-mall"].tiers
    club = Club(tier="BLUE", tier_day=DAY - dt.timedelta(days=5))
    apply(club, ClubEffect(day=DAY - dt.timedelta(days=3), spend_day=DAY - dt.timedelta(days=3),
                           spend=300_000_000))
    assert nightly_tier(club, tiers, DAY) == "BLUE"


def test_issue_numbers_are_luhn_valid_and_skip_taken() -> None:
    nums = list(issue_numbers("628000", 16, 1, 5, taken={card(2)}))
    assert len(nums) == 5 and all(luhn_ok(n) and n.startswith("628000") for n in nums)
    assert card(2) not in nums and card(1) in nums
    with pytest.raises(ValueError):
        list(issue_numbers("6280001234567", 16, 99, 2))


def test_draw_is_reproducible_and_weighted() -> None:
    people = [Entrant(card(i), i) for i in range(1, 30)]
    seed = bytes(range(32))
    first = draw(seed, people, 5)
    assert first == draw(seed, people, 5)
    assert len({w.pan for w in first}) == 5
    assert draw(bytes(32), [Entrant("a", 0), Entrant("b", 3)], 2) == [Entrant("b", 3)]
    # Over many seeds a card with 9x the entries wins about 9x as often.
    wins = {"a": 0, "b": 0}
    for i in range(2000):
        wins[draw(i.to_bytes(32, "big"), [Entrant("a", 1), Entrant("b", 9)], 1)[0].pan] += 1
    assert 0.85 < wins["b"] / 2000 < 0.95


def test_cli_enroll_issue_and_draw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, _ = write_config(tmp_path)
    c = str(config)
    pans = [card(900 + i) for i in range(4)]
    assert lps_main(["cards", "enroll", pans[0], "-c", c, "--phone", "12ab"]) == 3
    assert lps_main(["cards", "enroll", pans[0], "-c", c, "--birth-date", "1990-13-01"]) == 3
    for pan in pans:
        assert lps_main(["cards", "enroll", pan, "-c", c, "--name", "Reza",
                         "--birth-date", "1988-03-21"]) == 0
    store = SqliteJournal(tmp_path / "lps.db")
    try:
        rows = store.conn.execute(  # each profile is its card's account (docs/customers.md)
            "SELECT c.pan, a.name, a.birth_date FROM account_cards c "
            "JOIN accounts a ON a.id = c.account_id").fetchall()
    finally:
        store.close()
    assert sorted(rows) == sorted((p, "Reza", "1988-03-21") for p in pans)

    out = tmp_path / "print.csv"
    assert lps_main(["cards-issue", "--bin", "628000", "--count", "3", "--out", str(out),
                     "--coalition", "tehran-mall", "-c", c]) == 0
    issued = list(csv.DictReader(out.open()))
    assert len(issued) == 3 and all(luhn_ok(r["pan"]) for r in issued)
    assert not {r["pan"] for r in issued} & set(pans)
    assert lps_main(["cards-issue", "--bin", "628000", "--count", "3", "--out", str(out),
                     "-c", c]) == 1                       # never overwrite a printer file
    again = tmp_path / "print2.csv"
    assert lps_main(["cards-issue", "--bin", "628000", "--count", "3", "--out", str(again),
                     "--start", "1", "-c", c]) == 0       # issued, not enrolled: still taken
    second = [r["pan"] for r in csv.DictReader(again.open())]
    assert not set(second) & ({r["pan"] for r in issued} | set(pans))
    assert lps_main(["cards-issue", "--bin", "62800x", "--count", "1",
                     "--out", str(tmp_path / "bad.csv"), "-c", c]) == 3
    assert not (tmp_path / "bad.csv").exists()

    # A draw: committed before its day, drawn after it, verified by anyone.
    enrolled = dt.date.today()
    draw_day = enrolled + dt.timedelta(days=2)
    on(monkeypatch, enrolled)
    d = tmp_path / "draw"
    assert lps_main(["draw-commit", "--coalition", "tehran-mall", "--date", draw_day.isoformat(),
                     "--winners", "2", "--entries", "card", "--out", str(d), "-c", c]) == 0
    commitment = json.loads((d / "commitment.json").read_text())
    seed = (d / "seed.secret").read_text().strip()
    assert commitment["seed_sha256"] == hashlib.sha256(bytes.fromhex(seed)).hexdigest()
    assert seed not in (d / "commitment.json").read_text()
    assert (d / "seed.secret").stat().st_mode & 0o077 == 0
    assert lps_main(["draw", str(d), "-c", c]) == 1      # the draw day is not over yet
    assert not (d / "result.json").exists()
    on(monkeypatch, draw_day + dt.timedelta(days=1))
    assert lps_main(["draw", str(d), "-c", c]) == 0
    result = json.loads((d / "result.json").read_text())
    private = dict(csv.reader((d / "private.csv").open()))
    assert len(result["winners"]) == 2 and result["seed"] == seed
    assert {private[label] for label in result["winners"]} <= set(pans)
    published = (d / "entries.csv").read_text() + (d / "result.json").read_text()
    assert not any(pan in published for pan in pans)      # masked in what is published
    assert (d / "private.csv").stat().st_mode & 0o077 == 0
    assert lps_main(["draw-verify", str(d)]) == 0
    assert lps_main(["draw", str(d), "-c", c]) == 1      # drawn once: no re-roll
    result["winners"].reverse()
    (d / "result.json").write_text(json.dumps(result))
    assert lps_main(["draw-verify", str(d)]) == 1        # tampered winners are caught


def on(monkeypatch: pytest.MonkeyPatch, day: dt.date) -> None:
    """The business day the draw commands see (the draw day lies days away from now)."""
    from lps import draw_cli

    monkeypatch.setattr(draw_cli, "today", lambda config: day)


def drawing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pans: list[str],
            journal: dict[str, Any]) -> tuple[str, dt.date]:
    """A configuration on `journal` (tests/engines.py) with `pans` enrolled, and today as the
    draw commands see it."""
    config, _ = write_config(tmp_path, journal)
    for pan in pans:
        assert lps_main(["cards", "enroll", pan, "-c", str(config)]) == 0
    today = dt.date.today()
    on(monkeypatch, today)
    return str(config), today


def commit(c: str, out: Path, day: dt.date, *extra: str) -> int:
    return lps_main(["draw-commit", "--coalition", "tehran-mall", "--date", day.isoformat(),
                     "--out", str(out), "-c", c, *extra])


def test_a_draw_cannot_be_committed_on_or_after_its_day_nor_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        journal_settings: dict[str, Any]) -> None:
    c, today = drawing(tmp_path, monkeypatch, [card(950)], journal_settings)
    assert commit(c, tmp_path / "late", today) == 3
    assert "must be after today's business day" in capsys.readouterr().err
    assert not (tmp_path / "late").exists()
    assert commit(c, tmp_path / "a", today + dt.timedelta(days=1)) == 0
    sha = json.loads((tmp_path / "a" / "commitment.json").read_text())["seed_sha256"]
    capsys.readouterr()
    # A second commitment for the same draw would let the operator reveal the one that suits.
    assert commit(c, tmp_path / "b", today + dt.timedelta(days=1)) == 1
    assert f"already committed (seed sha256 {sha}" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    # A commitment swapped for another (not the audited one) is refused at the draw.
    (tmp_path / "a" / "commitment.json").write_text(
        (tmp_path / "a" / "commitment.json").read_text().replace(sha, "0" * 64))
    on(monkeypatch, today + dt.timedelta(days=2))
    assert lps_main(["draw", str(tmp_path / "a"), "-c", c]) == 1
    assert "not the commitment the audit log holds" in capsys.readouterr().err


def test_fewer_members_than_winners_and_no_entries_say_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        journal_settings: dict[str, Any]) -> None:
    c, today = drawing(tmp_path, monkeypatch, [card(960)], journal_settings)
    day = today + dt.timedelta(days=1)
    assert commit(c, tmp_path / "cards", day, "--winners", "2", "--entries", "card") == 0
    assert commit(c, tmp_path / "empty", day + dt.timedelta(days=1), "--winners", "2") == 0
    on(monkeypatch, today + dt.timedelta(days=5))
    capsys.readouterr()
    assert lps_main(["draw", str(tmp_path / "cards"), "-c", c]) == 0
    out = capsys.readouterr().out
    assert "only 1 eligible member for the 2 winners committed: every eligible member wins" in out
    assert len(json.loads((tmp_path / "cards" / "result.json").read_text())["winners"]) == 1
    # By points: the one member has none, so there is nothing to draw and nothing is revealed.
    assert lps_main(["draw", str(tmp_path / "empty"), "-c", c]) == 1
    err = capsys.readouterr().err
    assert "no member of tehran-mall has an entry" in err and "nothing to draw" in err
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["commitment.json",
                                                                      "seed.secret"]


def test_a_beacon_decides_with_the_seed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        journal_settings: dict[str, Any]) -> None:
    pans = [card(970 + i) for i in range(6)]
    c, today = drawing(tmp_path, monkeypatch, pans, journal_settings)
    d = tmp_path / "d"
    beacon = "drand quicknet round 1234567"
    assert commit(c, d, today + dt.timedelta(days=1), "--entries", "card", "--winners", "3",
                  "--beacon", beacon) == 0
    assert json.loads((d / "commitment.json").read_text())["beacon"] == beacon
    on(monkeypatch, today + dt.timedelta(days=3))
    capsys.readouterr()
    assert lps_main(["draw", str(d), "-c", c]) == 3   # the beacon's value is needed
    assert "--beacon-value" in capsys.readouterr().err
    value = "a1b2" * 16
    assert lps_main(["draw", str(d), "-c", c, "--beacon-value", value]) == 0
    result = json.loads((d / "result.json").read_text())
    seed = bytes.fromhex(result["seed"])
    people = [Entrant(row["label"], int(row["entries"]))
              for row in csv.DictReader((d / "entries.csv").open())]
    mixed = hashlib.sha256(seed + value.encode()).digest()
    assert result["winners"] == [w.pan for w in draw(mixed, people, 3)]
    capsys.readouterr()
    assert lps_main(["draw-verify", str(d)]) == 0
    assert f"check yourself that {beacon} published {value}" in capsys.readouterr().out
    # Another beacon value that gives other winners (the seed is random: a fixed value would
    # give the same three of six now and then), caught.
    result["beacon_value"] = next(
        other for other in (f"{i:04x}" * 16 for i in range(0xfff0, 0x10000))
        if [w.pan for w in draw(hashlib.sha256(seed + other.encode()).digest(), people, 3)]
        != result["winners"])
    (d / "result.json").write_text(json.dumps(result))
    assert lps_main(["draw-verify", str(d)]) == 1


def test_draw_entries_by_points_count_usable_points(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    import dataclasses

    from lps.draw_cli import entrants

    h = Harness()
    a, b, c = card(31), card(32), card(33)
    h.earn(T1, a, 1_000_000)                                   # 100 points
    h.earn(T1, b, 500_000, now=NOW - dt.timedelta(days=366))   # 50, lapsed
    h.earn(T1, b, 200_000)                                     # 20
    h.earn(T1, c, 10_000)
    h.pc(T1, c, "900000", 1, tags={"RP": "1"})                 # spent to 0
    later = NOW + dt.timedelta(days=1)                         # after the draw day: not seen
    h.earn(T1, c, 300_000, now=later)
    h.send(request("0200", T1, h.next_stan(), pan=a, pc="900000", amount=1, now=later,
                   tags={"RP": "40"}), later)
    cfg = dataclasses.replace(h.cfg, switch=dataclasses.replace(
        h.cfg.switch, **journal_settings))
    store = open_journal(cfg.switch.journal)
    try:
        store.append(h.entries)
    finally:
        store.close()
    got = entrants(cfg, "tehran-mall", DAY, "points")
    assert {e.pan: e.entries for e in got} == {a: 100, b: 20, c: 0}  # as D ended
    after = entrants(cfg, "tehran-mall", DAY + dt.timedelta(days=1), "points")
    assert {e.pan: e.entries for e in after} == {a: 60, b: 20, c: 30}
    assert [e.pan for e in got] == sorted([a, b, c])
    assert {e.entries for e in entrants(cfg, "tehran-mall", DAY, "card")} == {1}
