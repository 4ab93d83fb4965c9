"""A tier perk, points converted at the till and a paid membership end to end: the real
`lps serve` over TCP, a restart in between, then the day's settlement of its journal
(docs/protocol.md §4 "Discounts at the till" and "Paid memberships", docs/settlement.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from iso8583 import Message
from settlement.day import DayBook, stores_from_config
from settlement.journal import Journal, settle_journal
from switch.config import load_config
from tests.engines import query
from tests.rewards.support import BOOKS, CAFE, stop, tag
from tests.rewards.test_server import exchange, sign_ons
from tests.switch.support import T1, T2, card, earn, request, reversal
from tests.switch.test_crash import start, write_config

OP = "operator:tehran-mall"


def discount(tid: str, stan: int, pan: str, amount: int, **tags: str) -> Message:
    return request("0200", tid, stan, pan=pan, pc="940000", amount=amount, tags=tags or None)


def membership(tid: str, stan: int, pan: str, level: str, amount: int) -> Message:
    return request("0200", tid, stan, pan=pan, pc="950000", amount=amount, tags={"ML": level})


def inquiry(tid: str, stan: int, pan: str) -> Message:
    return request("0200", tid, stan, pan=pan, pc="310000")


def points_in(reply: Message) -> int:
    """The available points of DE54's first entry (docs/protocol.md §3)."""
    return int(reply.text(54)[8:20])


def test_a_tier_perk_points_converted_and_a_membership_over_tcp_survive_a_restart_and_settle(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    """On both journal engines (tests/engines.py)."""
    config, port = write_config(tmp_path, journal_settings)
    saver, member, lapsing = card(11), card(12), card(13)
    gold = membership(T1, 3, member, "GOLD", 10_000_000)  # the level in any case
    converted = discount(T1, 5, saver, 1_000_000, DP="300")
    bought_back = membership(T1, 10, lapsing, "silver", 4_000_000)
    proc = start(config, port)
    try:
        replies = asyncio.run(exchange(
            port, *sign_ons(),
            earn(T2, 1, saver, 2_000_000),               # 400 points of Book City
            discount(T1, 2, member, 1_000_000),          # BLUE: no perk, 13
            gold,
            discount(T1, 4, member, 1_000_000),          # GOLD at the cafe: 10 % off
            converted, converted,                        # 300 points = 30 % off, sent twice
            membership(T1, 6, member, "platinum", 10_000_000),   # unknown level
            membership(T1, 7, lapsing, "gold", 9_999_999),       # wrong amount
            discount(T1, 8, saver, 1_000_000, DP="200"),         # 100 points left: 51
            discount(T1, 9, saver, 100_000, BQ="3", BP="50000"),  # items over DE4: 13
            bought_back, reversal(bought_back, 11),
            inquiry(T1, 12, lapsing),
        ))[2:]
    finally:
        stop(proc)
    (earned, no_perk, sold, perk, burned, again, unknown, wrong, short, over, back, undone,
     after) = replies
    assert earned.text(39) == "00"
    assert no_perk.text(39) == "13"
    assert sold.text(39) == "00" and tag(sold, "TR") == "GOLD" and tag(sold, "ML") == "gold"
    until = dt.datetime.strptime(str(tag(sold, "MU")), "%Y%m%d").date()
    assert 364 <= (until - dt.date.today()).days <= 366
    assert perk.text(39) == "00" and tag(perk, "CD") == "100000" and tag(perk, "DB") == "TP=100000"
    assert burned.text(39) == "00" and tag(burned, "CD") == "300000" and tag(burned, "RD") == "300"
    assert points_in(burned) == 100
    assert again.fields == burned.fields
    assert (unknown.text(39), wrong.text(39), short.text(39), over.text(39)) == \
        ("12", "13", "51", "13")
    assert back.text(39) == "00" and undone.text(39) == "00"
    assert tag(after, "TR") == "BLUE"

    proc = start(config, port)  # restarted: the same balances, tiers and replies
    try:
        later = asyncio.run(exchange(port, *sign_ons(), inquiry(T1, 20, member),
                                     inquiry(T1, 21, saver), converted,
                                     discount(T1, 22, member, 2_000_000)))[2:]
    finally:
        stop(proc)
    member_info, saver_info, replayed, perk_again = later
    assert tag(member_info, "TR") == "GOLD"
    assert points_in(saver_info) == 100
    assert replayed.fields == burned.fields
    assert tag(perk_again, "CD") == "200000"

    db: str | Path = journal_settings.get("journal_url") or journal_settings["database"]
    [(day,)] = query(db, "SELECT DISTINCT business_day FROM journal WHERE kind = 'membership'")
    cfg = load_config(config)
    with Journal(db) as journal:
        d = settle_journal(journal, DayBook(dt.date.fromisoformat(str(day)[:10]),
                                            stores_from_config(cfg)),
                           workers=1, coalitions=cfg.coalitions)
    assert d.memberships is not None
    # The gold card sold at the cafe is owed to the operator; the silver one reversed nets out.
    assert {(o.payer, o.payee): o.amount for o in d.memberships.obligations} == \
        {(CAFE, OP): 10_000_000}
    # The 300 points burned at the cafe were Book City's: it pays their value.
    assert {(o.payer, o.payee): o.amount for o in d.points.obligations} == \
        {(BOOKS, CAFE): 300 * cfg.coalitions["tehran-mall"].point_value}
    assert d.money is not None and sum(p.net_amount for p in d.money.positions) == 0
