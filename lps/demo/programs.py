"""Step 1 of the demo: the programs (docs/programs.md) as a customer meets them.

One card is enrolled with a profile whose birthday is today (`lps cards enroll`, before the
switch starts: it reads profiles at start). It visits the café ten times (birthday bonus on the
first earn, a stamp per visit, the tenth completes a reward), redeems the reward (`930000`),
then spends enough at Book City to cross into the next tier, and takes a coupon there
(`lps coupons issue` while the switch runs, the code in DE48 `CP`, the discount back in `CD`).
A gift card is sold at the café and spent at Book City; the customer then buys at the café by
her mobile number alone (DE48 `MB`). Each answer's DE48 is shown: `EP`
points, `TR` tier, `SC`/`SR` stamps and rewards, `MS` the receipt text.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

from iso8583 import Message
from iso8583.loyalty import build_tlv, parse_de54
from lps.cli import main as lps_main
from switch.client import TerminalClient
from switch.config import Coalition, Config, Store
from switch.core.calendar import business_day
from switch.core.luhn import luhn_complete, mask_pan
from switch.core.mobile import mask_mobile, normalize_mobile
from switch.core.programs.rules import active
from switch.journal import open_outbox
from switch.messaging import outbox
from switch.server import Switch

from .common import RECEIPT_STORE, TerminalSim, amount, tags

CAFE, BOOKS = "T0000001", "T0000002"
CUSTOMER = "Sara Naderi"
MOBILE = "09121234567"   # her profile's phone, +989121234567: one account, card and mobile


def programs_card(config: Config) -> str:
    bins = next(iter(config.coalitions.values())).card_bins
    return luhn_complete(f"{bins[0]}555000001"[:15])


def enroll(config_path: Path, config: Config, pan: str) -> dt.date:
    """`lps cards enroll PAN --name --phone --birth-date`, with a birthday on today's business
    day; returns the birth date."""
    cfg = config.switch
    today = business_day(dt.datetime.now(dt.UTC), cfg.zone, cfg.business_day_cutover)
    birth = today.replace(year=today.year - 28)  # 28 years: 29 February stays a date
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = lps_main(["cards", "enroll", pan, "--config", str(config_path), "--name",
                         CUSTOMER, "--phone", "+989121234567", "--birth-date", birth.isoformat()])
    if code != 0:
        raise RuntimeError(f"lps cards enroll failed ({code}): {out.getvalue()}")
    return birth


def issue_coupon(config_path: Path, store: str, off: int, minimum: int, today: dt.date) -> str:
    """One code of a new issue (`lps coupons issue`), read back from the CSV it wrote."""
    out = config_path.parent / "demo-coupons.csv"
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        code = lps_main(["coupons", "issue", "--store", store, "--count", "1", "--amount",
                         str(off), "--min-amount", str(minimum), "--expires",
                         (today + dt.timedelta(days=30)).isoformat(), "--out", str(out),
                         "--config", str(config_path)])
    if code != 0:
        raise RuntimeError(f"lps coupons issue failed ({code}): {log.getvalue()}")
    with out.open(encoding="utf-8") as fh:
        return next(csv.DictReader(fh))["code"]


def gift_card(config: Config) -> str | None:
    """A card of the first coalition's gift-card range (None: it has no gift cards)."""
    gift = next(iter(config.coalitions.values())).gift_cards
    return None if gift is None else luhn_complete(f"{gift.bins[0]}555000001"[:15])


def _base(store: Store, value: int) -> int:
    rule = store.earn
    return 0 if value < rule.min_amount else value // rule.points_per * rule.points


def _line(what: str, reply: Message, extra: str = "") -> None:
    t = tags(reply)
    parts = [f"{what:34} -> {reply.text(39)}"]
    for tag, label in (("EP", "points"), ("RD", "redeemed"), ("TR", "tier"),
                       ("SC", "stamps"), ("SR", "rewards")):
        if tag in t:
            parts.append(f"{label} {t[tag]}")
    print("  " + ", ".join(parts) + (f"  ({extra})" if extra else ""))


async def _by_mobile(client: TerminalClient, term: TerminalSim, store: Store) -> bool:
    """A purchase and a balance inquiry naming the customer by mobile number (DE48 `MB`, no
    card): the switch works on her account's virtual card (docs/customers.md "Mobile numbers
    at the POS"), made at this first use and never shown."""
    print(f"\n{CUSTOMER} at {store.name} without her card, by mobile number "
          f"{mask_mobile(normalize_mobile(MOBILE))} (DE48 MB)")
    ok = True
    for pc, value, what in (("000000", 300_000, f"earn {amount(300_000)}"),
                            ("310000", None, "balance inquiry")):
        fields: dict[int, str | bytes] = {3: pc, 48: build_tlv({"MB": MOBILE}), 62: term.batch}
        if value is not None:
            fields[4] = f"{value:012d}"
        msg = term.message("0200", fields)
        reply = await client.send(msg, timeout=30)
        term.count(msg, reply)
        points = [e.amount for e in parse_de54(reply.text(54)) if e.account_type == "00"] \
            if 54 in reply.fields else []
        extra = f"{points[0]} points on her account's virtual card" if points else ""
        bonus = int(tags(reply).get("EP", "0")) - _base(store, value or 0)
        if value is not None:  # the birthday bonus is once per customer, not per card
            extra += (f"; base {_base(store, value)}, no second birthday bonus (once per "
                      "customer, her card had it)") if bonus == 0 else \
                f"; base {_base(store, value)} + {bonus}"
            ok &= bonus == 0
        _line(what, reply, extra)
        ok &= reply.text(39) == "00" and 2 not in reply.fields
    return ok


def _receipts_queued(config: Config) -> bool:
    """The receipt SMS the cafe's approved purchases queued, each written in the commit of its
    journal row (docs/messaging.md "Receipts"); `lps messages send` would deliver them."""
    box = open_outbox(config.switch.journal)
    try:
        rows = [r for r in outbox.in_state(box, "queued") if r.template.startswith("receipt_")]
    finally:
        box.close()
    kinds = sorted({r.template.removeprefix("receipt_") for r in rows})
    to = sorted({mask_mobile(r.recipient) for r in rows})
    print(f"\nreceipt SMS queued at {config.stores[RECEIPT_STORE].name}: {len(rows)} "
          f"({', '.join(kinds)}) for {', '.join(to) or 'nobody'}, each in its purchase's commit")
    return bool(rows) and all(r.store_id == RECEIPT_STORE for r in rows)


def _receipt(reply: Message) -> None:
    text = tags(reply).get("MS")
    if text:
        print(f"  {'':34}    receipt: {text}")


async def _till_rewards(send: Callable[[dict[int, str | bytes]], Awaitable[Message]],
                        store: Store, coalition: Coalition) -> bool:
    """A club card bought at the cafe, then its tier perk and points converted at its till
    (docs/programs.md "Paid memberships", "Discounts at the till"); True when as expected."""
    levels = sorted(coalition.memberships.values(), key=lambda lv: -lv.price)
    if not levels or store.discounts is None or not coalition.discounts.points_step:
        return True
    level = levels[0]
    print(f"\n{store.name}: a {level.level} club card ({level.tier}, {level.months} months) "
          f"for {amount(level.price)}, then a discount at the till")
    reply = await send({3: "950000", 4: f"{level.price:012d}",
                        48: build_tlv({"ML": level.level})})
    _line(f"buy the {level.level} card (950000)", reply, f"until {tags(reply).get('MU')}")
    ok = reply.text(39) == "00" and tags(reply).get("TR") == level.tier
    value, points = 1_000_000, coalition.discounts.points_step
    reply = await send({3: "940000", 4: f"{value:012d}", 48: build_tlv({"DP": str(points)})})
    t = tags(reply)
    _line(f"discount on {amount(value)} (940000)", reply,
          f"{amount(int(t.get('CD', '0')))} off: {t.get('DB', '')}")
    return ok and reply.text(39) == "00" and int(t.get("CD", "0")) > 0


async def run_programs(sw: Switch, config: Config, pan: str, birth: dt.date,
                       config_path: Path) -> bool:
    """The visits; True when every batch closed in balance and every answer was expected."""
    cafe_store = config.stores[config.terminals[CAFE].store]
    books_store = config.stores[config.terminals[BOOKS].store]
    coalition = config.coalitions[cafe_store.coalition]
    now_local = dt.datetime.now(config.switch.zone)
    print(f"card {mask_pan(pan)} enrolled with a profile: {CUSTOMER}, born {birth} "
          f"(birthday today)")
    print("tiers of " + coalition.name + ": " + ", ".join(
        f"{t.name} from {amount(t.min_spend_12m)} ×{t.earn_multiplier:g}"
        for t in coalition.tiers))
    for store in config.stores.values():
        for c in store.campaigns:
            state = "running now" if active(c, now_local) else "not running today"
            print(f"campaign {c.name!r} at {store.name}: ×{c.multiplier:g} +{c.bonus}, "
                  f"{c.start}..{c.end}, {state}")
    addr = sw.addresses["ascii"]
    client = await TerminalClient("ascii", addr.host, addr.port).connect()
    terms = {tid: TerminalSim(tid, config.terminals[tid].store, "ascii", client,
                              stan=900_000, batch="000002") for tid in (CAFE, BOOKS)}
    ok = True
    try:
        for term in terms.values():
            reply = await client.send(term.message("0800", {70: "001"}), timeout=30)
            ok &= reply.text(39) == "00"

        async def send(term: TerminalSim, fields: dict[int, str | bytes]) -> Message:
            msg = term.message("0200", {2: pan, 22: "071", 62: term.batch, **fields})
            reply = await client.send(msg, timeout=30)
            term.count(msg, reply)
            return reply

        cafe = terms[CAFE]
        stamps = cafe_store.stamps
        print(f"\n{cafe_store.name}: 1 stamp per visit"
              + (f", every {stamps.needed}th completes a reward ({stamps.reward})"
                 if stamps else "") + f", birthday bonus {cafe_store.birthday_bonus}")
        first = 250_000
        reply = await send(cafe, {3: "000000", 4: f"{first:012d}"})
        base = _base(cafe_store, first)
        bonus = int(tags(reply).get("EP", "0")) - base
        _line(f"visit 1: earn {amount(first)}", reply,
              f"base {base} + {bonus} birthday bonus" if bonus else f"base {base}")
        _receipt(reply)
        ok &= reply.text(39) == "00" and bonus == cafe_store.birthday_bonus
        visits = stamps.needed if stamps else 3
        small = 40_000
        for n in range(2, visits + 1):
            reply = await send(cafe, {3: "000000", 4: f"{small:012d}"})
            ok &= reply.text(39) == "00"
            if n in (2, visits):
                _line(f"visit {n}: earn {amount(small)}", reply)
            elif n == 3:
                print("  ...")
        _receipt(reply)
        if stamps:
            reply = await send(cafe, {3: "930000"})
            _line("redeem the stamp reward (930000)", reply)
            _receipt(reply)
            ok &= reply.text(39) == "00"

        books = terms[BOOKS]
        tiers = sorted(coalition.tiers, key=lambda t: t.min_spend_12m)
        above = [t for t in tiers if t.min_spend_12m > first + small * (visits - 1)]
        big = above[0].min_spend_12m + 10_000_000 if above else 5_000_000
        print(f"\n{books_store.name}: {books_store.earn.points} points per "
              f"{amount(books_store.earn.points_per)} from {amount(books_store.earn.min_amount)}"
              "; the earn that crosses a tier earns at the new tier")
        for value in (big, 1_000_000):
            reply = await send(books, {3: "000000", 4: f"{value:012d}"})
            _line(f"earn {amount(value)}", reply, f"base {_base(books_store, value)}")
            ok &= reply.text(39) == "00"
        _receipt(reply)
        if above:
            ok &= tags(reply).get("TR") == above[0].name
        today = business_day(dt.datetime.now(dt.UTC), config.switch.zone,
                             config.switch.business_day_cutover)
        code = issue_coupon(config_path, books_store.id, 200_000, 1_000_000, today)
        reply = await send(books, {3: "900000", 4: f"{1_500_000:012d}",
                                   48: build_tlv({"CP": code.lower()})})
        _line(f"coupon {code} on {amount(1_500_000)}", reply,
              f"discount {amount(int(tags(reply).get('CD', '0')))}")
        ok &= reply.text(39) == "00" and tags(reply).get("CD") == "200000"
        ok &= await _till_rewards(lambda f: send(cafe, f), cafe_store, coalition)
        gift = gift_card(config)
        if gift is not None:
            print(f"\ngift card {mask_pan(gift)}: sold at {cafe_store.name}, spent at "
                  f"{books_store.name}")
            for term, pc, value in ((cafe, "210060", 500_000), (books, "006000", 120_000)):
                msg = term.message("0200", {2: gift, 22: "071", 62: term.batch, 3: pc,
                                            4: f"{value:012d}"})
                reply = await client.send(msg, timeout=30)
                term.count(msg, reply)
                what = "sell" if pc == "210060" else "spend"
                print(f"  {what} {amount(value):>27} -> {reply.text(39)}")
                ok &= reply.text(39) == "00"
        if coalition.mobile is not None:
            ok &= await _by_mobile(client, cafe, cafe_store)
        ok &= _receipts_queued(config)
        for term in terms.values():
            reply = await client.send(term.batch_close(), timeout=30)
            print(f"batch {term.batch} of {term.tid}: "
                  + ("in balance" if reply.text(39) == "00" else f"answered {reply.text(39)}"))
            ok &= reply.text(39) == "00"
    finally:
        await client.close()
    return ok
