"""`make demo`: the switch on the example configuration, with simulated terminals of three stores.

It starts the real switch (durable SQLite journal in a temporary directory unless --database
says otherwise), connects the three stores' terminals over both wire profiles, and drives
traffic for --seconds (default 25, or $LPS_DEMO_SECONDS): earns, redemptions across stores,
inquiries, retransmissions, reversals, stored-value top-ups and payments, a return; then closes
each terminal's batch (0500) and prints what happened, read back from the journal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from iso8583 import Message
from iso8583.loyalty import OriginalData, build_de90, build_tlv
from switch.client import TerminalClient
from switch.config import Config, HostPort, load_config
from switch.core.luhn import luhn_complete, mask_pan
from switch.server import Switch, install_event_loop

ROOT = Path(__file__).resolve().parent.parent
KIND_NAMES = {"000000": "earn", "900000": "redeem", "310000": "inquiry", "200000": "return",
              "210060": "top-up", "006000": "purse pay"}


@dataclasses.dataclass
class TerminalSim:
    """One store's terminal: one request at a time, as a real POS sends them."""

    tid: str
    store: str
    profile: str
    client: TerminalClient
    stan: int = 0
    batch: str = "000001"
    sent: list[tuple[Message, Message]] = dataclasses.field(default_factory=list)
    approved: dict[str, Message] = dataclasses.field(default_factory=dict)  # STAN -> request
    earns_by_rrn: dict[str, Message] = dataclasses.field(default_factory=dict)
    totals: Counter[int] = dataclasses.field(default_factory=Counter)
    purses: list[str] = dataclasses.field(default_factory=list)

    def next_stan(self) -> str:
        self.stan = self.stan % 999_999 + 1
        return f"{self.stan:06d}"

    def message(self, mti: str, fields: dict[int, str | bytes]) -> Message:
        now = time.gmtime()
        base: dict[int, str | bytes] = {
            7: time.strftime("%m%d%H%M%S", now), 11: self.next_stan(), 41: self.tid,
            12: time.strftime("%H%M%S", now), 13: time.strftime("%m%d", now),
        }
        if mti != "0800":
            base[42] = self.store
        base.update(fields)
        tpdu = b"\x60\x00\x01\x00\x02" if self.profile == "bcd" else None
        return Message(mti=mti, fields=base, tpdu=tpdu)


@dataclasses.dataclass
class Stats:
    latencies: list[float] = dataclasses.field(default_factory=list)
    outcomes: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    retransmissions_identical: int = 0
    retransmissions: int = 0


async def exchange(term: TerminalSim, msg: Message, stats: Stats, label: str) -> Message:
    started = time.perf_counter()
    reply = await term.client.send(msg, timeout=30)
    stats.latencies.append(time.perf_counter() - started)
    stats.outcomes[(label, str(reply.fields.get(39)))] += 1
    return reply


def _count(term: TerminalSim, msg: Message, reply: Message) -> None:
    """The terminal's own batch totals, as it will report them in 0500."""
    if reply.fields.get(39) != "00" or msg.mti != "0200":
        return
    pc, amount = msg.fields.get(3), int(str(msg.fields.get(4, "0")))
    if pc == "000000":
        term.totals[74] += 1
        term.totals[86] += amount
        term.earns_by_rrn[str(reply.fields[37])] = msg
    elif pc in ("900000", "006000"):
        term.totals[76] += 1
        term.totals[88] += amount
    term.approved[str(msg.fields[11])] = msg


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
        _count(term, msg, reply)


async def close_batch(term: TerminalSim, stats: Stats) -> str:
    fields: dict[int, str | bytes] = {3: "920000", 62: term.batch}
    for n in (74, 75, 76, 77):
        fields[n] = f"{term.totals[n]:010d}"
    for n in (86, 87, 88, 89):
        fields[n] = f"{term.totals[n]:016d}"
    reply = await exchange(term, term.message("0500", fields), stats, "batch close")
    return str(reply.fields.get(39))


def bind_or_ephemeral(addr: HostPort | None) -> HostPort | None:
    """The configured port when free, else any free port (another demo may be running)."""
    if addr is None:
        return None
    import socket

    with socket.socket() as s:
        try:
            s.bind((addr.host, addr.port))
        except OSError:
            return HostPort(addr.host, 0)
    return addr


def print_summary(cfg: Config, db: Path, stats: Stats, seconds: float,
                  batches: dict[str, str], cards: list[str], invariants: list[str]) -> None:
    conn = sqlite3.connect(db)
    names = {s.id: s.name for s in cfg.stores.values()}
    total = sum(stats.outcomes.values())
    lat = sorted(stats.latencies)
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0.0)
    print()
    print("=" * 78)
    print(f"LPS demo: {total} requests in {seconds:.1f} s ({total / seconds:.0f}/s), "
          f"latency p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms (each after its fsync)")
    print("=" * 78)
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
    rows = conn.execute(
        "SELECT store_id, SUM(CASE WHEN kind IN ('earn','advice') THEN points ELSE 0 END), "
        "-SUM(CASE WHEN kind = 'redeem' THEN points ELSE 0 END), "
        "SUM(CASE WHEN kind IN ('return','reversal') THEN points ELSE 0 END) "
        "FROM journal WHERE response_code = '00' AND store_id != '' GROUP BY store_id")
    for store, issued, redeemed, other in rows:
        print(f"{names.get(store, store)[:27]:28}{issued:>10}{redeemed:>15}{other:>12}")
    print()
    print("whose points were spent where (redemptions net of reversals, from lot moves)")
    matrix = conn.execute(
        "SELECT m.store_id, j.store_id, -SUM(m.delta) FROM lot_moves m JOIN journal j "
        "ON j.id = m.journal_id WHERE m.kind = 'points' AND (j.kind = 'redeem' OR "
        "(j.kind = 'reversal' AND m.delta > 0 AND j.original_id IN "
        "(SELECT id FROM journal WHERE kind = 'redeem'))) GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    for issuer, spender, pts in matrix:
        arrow = "(same store)" if issuer == spender else "-> obligation"
        print(f"  issued by {names.get(issuer, issuer)[:20]:20} spent at "
              f"{names.get(spender, spender)[:20]:20} {pts:>7} points {arrow}")
    print()
    print("batch close (0500) per terminal: " + ", ".join(
        f"{tid} {'in balance' if rc == '00' else 'OUT OF BALANCE ' + rc}"
        for tid, rc in batches.items()))
    top = conn.execute(
        "SELECT pan, SUM(remaining) FROM lots WHERE kind = 'points' GROUP BY pan "
        "ORDER BY 2 DESC LIMIT 5").fetchall()
    print("top cards: " + ", ".join(f"{mask_pan(pan)} {pts}" for pan, pts in top))
    entries = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    enrolled = conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0]
    print(f"journal: {entries} entries, {enrolled} cards auto-enrolled, database {db}")
    print("invariants (each card's lots = its journal; each lot = its moves): "
          + ("OK" if not invariants else "BROKEN: " + "; ".join(invariants)))
    conn.close()


async def run_demo(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    workdir = Path(args.database).parent if args.database else Path(tempfile.mkdtemp("-lps"))
    db = Path(args.database) if args.database else workdir / "lps.db"
    cfg = dataclasses.replace(cfg, switch=dataclasses.replace(
        cfg.switch, database=db, listen_ascii=bind_or_ephemeral(cfg.switch.listen_ascii),
        listen_bcd=bind_or_ephemeral(cfg.switch.listen_bcd),
        metrics=bind_or_ephemeral(cfg.switch.metrics)))
    sw = Switch(cfg)
    await sw.start()
    print(f"switch up: ascii {sw.addresses.get('ascii')}, bcd {sw.addresses.get('bcd')}, "
          f"metrics http://{sw.addresses.get('metrics')}/metrics, journal {db}")
    rng = random.Random(args.seed)
    bins = next(iter(cfg.coalitions.values())).card_bins
    cards = [luhn_complete(f"{bins[0]}{rng.randrange(10**9):09d}") for _ in range(args.cards)]
    stats = Stats()
    terms = []
    for i, (tid, term) in enumerate(sorted(cfg.terminals.items())):
        for lane in range(args.lanes):
            profile = "ascii" if (i + lane) % 2 == 0 else "bcd"
            addr = sw.addresses[profile]
            client = await TerminalClient(profile, addr.host, addr.port).connect()
            sim = TerminalSim(tid, term.store, profile, client)
            sim.stan = lane * 200_000
            terms.append(sim)
    started = time.monotonic()
    until = started + args.seconds
    print(f"driving {len(terms)} terminal lanes of {len(cfg.terminals)} terminals in "
          f"{len(cfg.stores)} stores, {len(cards)} cards, for {args.seconds:.0f} s ...")
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
    await asyncio.gather(*tasks)
    ticker.cancel()
    elapsed = time.monotonic() - started
    # One batch per terminal: merge the lanes' totals, close from the first lane.
    batches = {}
    merged: dict[str, TerminalSim] = {}
    for t in terms:
        if t.tid in merged:
            merged[t.tid].totals.update(t.totals)
        else:
            merged[t.tid] = t
    for tid, t in merged.items():
        batches[tid] = await close_batch(t, stats)
    for t in terms:
        await t.client.close()
    await sw.stop()
    from switch.store import SqliteStore

    store = SqliteStore(db)
    invariants = store.check_invariants()
    store.close()
    print_summary(cfg, db, stats, elapsed, batches, cards, invariants)
    ok = not invariants and all(rc == "00" for rc in batches.values())
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m switch.demo", description=__doc__)
    parser.add_argument("--config", default=str(ROOT / "examples" / "lps.toml"))
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("LPS_DEMO_SECONDS", "25")))
    parser.add_argument("--database", help="journal file (default: a new temporary directory)")
    parser.add_argument("--cards", type=int, default=40)
    parser.add_argument("--lanes", type=int, default=4,
                        help="concurrent POS lanes per terminal ID (each with its own STANs)")
    parser.add_argument("--tps", type=float, default=15.0, help="requests/s per lane")
    parser.add_argument("--seed", type=int, default=8583)
    args = parser.parse_args(argv)
    install_event_loop()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_demo(args))
    return 130


if __name__ == "__main__":
    sys.exit(main())

