"""Step 3 of the demo: many terminal lanes of three stores, over both wire profiles.

Earns, redemptions across stores, inquiries, retransmissions, reversals, stored-value top-ups
and payments, a return; then each terminal's batch is closed (0500) and the journal is read
back: points by store, whose points were spent where, the invariants.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

from iso8583 import Message
from iso8583.loyalty import OriginalData, build_de90, build_tlv
from switch.client import TerminalClient
from switch.config import Config
from switch.core.luhn import luhn_complete, mask_pan
from switch.journal import open_reader
from switch.server import Switch

from .common import KEYED_TERMINAL, TerminalSim

KIND_NAMES = {"000000": "earn", "900000": "redeem", "310000": "inquiry", "200000": "return",
              "210060": "top-up", "006000": "purse pay"}


@dataclasses.dataclass
class Stats:
    latencies: list[float] = dataclasses.field(default_factory=list)
    outcomes: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    retransmissions_identical: int = 0
    retransmissions: int = 0


async def exchange(term: TerminalSim, msg: Message, stats: Stats, label: str) -> Message:
    assert term.client is not None
    started = time.perf_counter()
    reply = await term.client.send(msg, timeout=30)
    stats.latencies.append(time.perf_counter() - started)
    stats.outcomes[(label, str(reply.fields.get(39)))] += 1
    return reply


async def drive(term: TerminalSim, cards: list[str], until: float, rng: random.Random,
                stats: Stats, tps: float) -> None:
    r = await exchange(term, term.message("0800", {70: "001"}), stats, "sign-on")
    assert r.fields.get(39) == "00", r
    while time.monotonic() < until:
        await asyncio.sleep(rng.expovariate(tps))
        pan = rng.choice(cards)
        roll = rng.random()
        common: dict[int, str | bytes] = {2: pan, 62: term.batch, 22: "071"}
        if roll < 0.50:
            amount = rng.choice((35_000, 80_000, 150_000, 420_000, 1_200_000))
            msg = term.message("0200", {**common, 3: "000000", 4: f"{amount:012d}",
                                        48: build_tlv({"IN": f"INV{term.stan}"})})
        elif roll < 0.70:
            amount = rng.choice((2_000, 5_000, 10_000, 30_000))
            msg = term.message("0200", {**common, 3: "900000", 4: f"{amount:012d}"})
        elif roll < 0.78:
            msg = term.message("0200", {**common, 3: "310000"})
        elif roll < 0.83 and term.sent:
            prior, first = rng.choice(term.sent[-20:])
            again = await exchange(term, prior, stats, "retransmission")
            stats.retransmissions += 1
            stats.retransmissions_identical += int(first == again)
            continue
        elif roll < 0.87 and term.approved:
            stan = rng.choice(list(term.approved))
            original = term.approved.pop(stan)
            od = OriginalData(original.mti, str(original.fields[11]), str(original.fields[7]))
            msg = term.message("0400", {2: original.fields[2], 3: original.fields[3],
                                        4: original.fields.get(4, "0" * 12),
                                        90: build_de90(od)})
            reply = await exchange(term, msg, stats, "reversal")
            if reply.fields.get(39) == "00" and original.fields[3] in ("000000", "900000",
                                                                       "006000"):
                amount = int(str(original.fields[4]))
                if original.fields[3] == "000000":
                    term.totals[75] += 1
                    term.totals[87] += amount
                else:
                    term.totals[77] += 1
                    term.totals[89] += amount
            continue
        elif roll < 0.89 and term.earns_by_rrn:
            rrn, original = rng.choice(list(term.earns_by_rrn.items()))
            amount = int(str(original.fields[4])) // 2
            del term.earns_by_rrn[rrn]
            msg = term.message("0200", {**common, 2: original.fields[2], 3: "200000",
                                        4: f"{amount:012d}", 48: build_tlv({"OR": rrn})})
        elif term.store == "STORE0000000003" and roll < 0.95:
            if rng.random() < 0.4 or not term.purses:
                msg = term.message("0200", {**common, 3: "210060", 4: f"{200_000:012d}"})
                term.purses.append(pan)
            else:
                msg = term.message("0200", {**common, 2: rng.choice(term.purses),
                                            3: "006000", 4: f"{60_000:012d}"})
        else:
            amount = rng.choice((50_000, 250_000))
            msg = term.message("0200", {**common, 3: "000000", 4: f"{amount:012d}"})
        reply = await exchange(term, msg, stats, KIND_NAMES.get(str(msg.fields[3]), "?"))
        term.sent.append((msg, reply))
        term.count(msg, reply)


async def close_batch(term: TerminalSim, stats: Stats) -> str:
    reply = await exchange(term, term.batch_close(), stats, "batch close")
    return str(reply.fields.get(39))


def print_summary(cfg: Config, db: Path, stats: Stats, seconds: float,
                  batches: dict[str, str]) -> None:
    reader = open_reader(db)
    try:
        by_store, by_issuer, top = (reader.points_by_store(), reader.redeemed_by_issuer(),
                                    reader.top_cards(5))
    finally:
        reader.close()
    names = {s.id: s.name for s in cfg.stores.values()}
    total = sum(stats.outcomes.values())
    lat = sorted(stats.latencies)

    def p(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0.0

    print()
    print(f"traffic: {total} requests in {seconds:.1f} s ({total / seconds:.0f}/s), "
          f"latency p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms (each after its fsync)")
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for (kind, rc), n in stats.outcomes.items():
        by_kind[kind][rc] += n
    print(f"{'request':16}{'total':>8}  response codes")
    for kind in sorted(by_kind, key=lambda k: -sum(by_kind[k].values())):
        codes = ", ".join(f"{rc}×{n}" for rc, n in sorted(by_kind[kind].items()))
        print(f"{kind:16}{sum(by_kind[kind].values()):>8}  {codes}")
    print(f"retransmissions answered byte-identical: {stats.retransmissions_identical}"
          f"/{stats.retransmissions}")
    print()
    print("points by store (from the journal)")
    print(f"{'store':28}{'issued':>10}{'redeemed here':>15}{'clawed/rev':>12}")
    for store, issued, redeemed, other in by_store:
        print(f"{names.get(store, store)[:27]:28}{issued:>10}{redeemed:>15}{other:>12}")
    print()
    print("whose points were spent where (redemptions net of reversals, from lot moves)")
    for issuer, spender, pts in by_issuer:
        arrow = "(same store)" if issuer == spender else "-> obligation"
        print(f"  issued by {names.get(issuer, issuer)[:20]:20} spent at "
              f"{names.get(spender, spender)[:20]:20} {pts:>7} points {arrow}")
    print()
    print("batch close (0500) per terminal: " + ", ".join(
        f"{tid} {'in balance' if rc == '00' else 'OUT OF BALANCE ' + rc}"
        for tid, rc in batches.items()))
    print("top cards: " + ", ".join(f"{mask_pan(pan)} {pts}" for pan, pts in top))




async def run_traffic(sw: Switch, cfg: Config, args: argparse.Namespace) -> bool:
    """Drive the lanes for args.seconds, close the batches, print the summary; True when
    every batch closed in balance."""
    rng = random.Random(args.seed)
    bins = next(iter(cfg.coalitions.values())).card_bins
    cards = [luhn_complete(f"{bins[0]}{rng.randrange(10**9):09d}") for _ in range(args.cards)]
    stats = Stats()
    terms = []
    clients: list[TerminalClient] = []
    unkeyed = sorted(t for t in cfg.terminals.items() if t[0].strip() != KEYED_TERMINAL)
    for i, (tid, term) in enumerate(unkeyed):
        for lane in range(args.lanes):
            profile = "ascii" if (i + lane) % 2 == 0 else "bcd"
            addr = sw.addresses[profile]
            client = await TerminalClient(profile, addr.host, addr.port).connect()
            clients.append(client)
            sim = TerminalSim(tid, term.store, profile, client)
            sim.stan = lane * 200_000
            terms.append(sim)
    started = time.monotonic()
    until = started + args.seconds
    print(f"driving {len(terms)} terminal lanes of {len(unkeyed)} terminals in "
          f"{len(cfg.stores)} stores, {len(cards)} cards, for {args.seconds:g} s ...")
    tasks = [asyncio.create_task(drive(t, cards, until, random.Random(rng.random()), stats,
                                       args.tps)) for t in terms]

    async def progress() -> None:
        while True:
            await asyncio.sleep(5)
            n = sum(stats.outcomes.values())
            ok = sum(v for (_, rc), v in stats.outcomes.items() if rc == "00")
            med = statistics.median(stats.latencies[-500:]) * 1000 if stats.latencies else 0
            print(f"  {time.monotonic() - started:5.1f} s: {n} requests, {ok} approved, "
                  f"median latency {med:.1f} ms", flush=True)

    ticker = asyncio.create_task(progress())
    try:
        await asyncio.gather(*tasks)
    finally:
        ticker.cancel()
    elapsed = time.monotonic() - started
    # One batch per terminal: merge the lanes' totals, close from the first lane.
    merged: dict[str, TerminalSim] = {}
    for t in terms:
        if t.tid in merged:
            merged[t.tid].totals.update(t.totals)
        else:
            merged[t.tid] = t
    batches = {tid: await close_batch(t, stats) for tid, t in merged.items()}
    for client in clients:
        await client.close()
    print_summary(cfg, db=sw.database, stats=stats, seconds=elapsed, batches=batches)
    # On SQLite the batches were committed by a process of their own (docs/switch.md).
    elsewhere = getattr(sw.journal, "commit_process_cpu", 0.0)
    if elsewhere:
        print(f"group commits so far: {sw.writer.commits}, each in the switch's commit process "
              f"({elsewhere:.2f} s of its CPU)")
        # Restarted each second by the writer, the WAL holds about a second of commits.
        frames = sw.metrics.registry.get_sample_value("lps_wal_frames") or 0
        wal = Path(f"{sw.database}-wal")
        size = wal.stat().st_size / 1e6 if wal.exists() else 0.0
        print(f"WAL: {frames:,.0f} frames at the last second's checkpoint, its file {size:.1f} MB")
    return all(rc == "00" for rc in batches.values())
