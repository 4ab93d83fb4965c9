"""The load generator's world and traffic, shared by `benches.loadgen` (over TCP) and
`benches.drive` (in process): the configuration, the cards, and the request mix.

The mix: 60 % earn, 25 % burn, 10 % inquiry, 5 % reversal of the terminal's previous request
(docs/protocol.md §4), the first request of each terminal a sign-on.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from iso8583 import Message
from iso8583.loyalty import OriginalData, build_de90
from switch.core.luhn import luhn_complete

ROOT = Path(__file__).resolve().parents[2]
STORES = ("STORE0000000001", "STORE0000000002", "STORE0000000003")


def write_config(workdir: Path, port: int, terminals: int, root: Path = ROOT,
                 database: str = "", metrics: str = "") -> Path:
    """The example configuration of the checkout at `root` with `terminals` terminals spread
    over its three stores, its journal in `workdir` (SQLite) or in the PostgreSQL database
    `database` names, its `/metrics` at `metrics` (host:port; "": none)."""
    text = (root / "examples" / "lps.toml").read_text()
    text = text.replace('"127.0.0.1:8583"', f'"127.0.0.1:{port}"')
    text = text.replace('listen_bcd = "127.0.0.1:8584"', 'listen_bcd = ""')
    text = text.replace('metrics = "127.0.0.1:9583"', f'metrics = "{metrics}"')
    journal = (f'database = "{database}"\nstate_dir = "{workdir}"\n' if database
               else f'database = "{workdir / "lps.db"}"\n')
    text = re.sub(r'(?m)^database = "var/lps.db".*\n', journal, text, count=1)
    head, _, _ = text.partition("[terminal.T0000001]")
    limits = ("[switch.limits]\nmax_connections = 20000\nmax_inflight = 100000\n"
              "max_inflight_per_connection = 256\n\n")
    head = head.replace("[coalition.tehran-mall]", limits + "[coalition.tehran-mall]", 1)
    body = [head, '[terminal.P0000001]\nstore = "STORE0000000002"\n']
    for i in range(1, terminals + 1):
        body.append(f'[terminal.L{i:07d}]\nstore = "{STORES[i % 3]}"\n')
    path = workdir / "lps.toml"
    path.write_text("\n".join(body))
    return path


def cards(count: int) -> list[str]:
    return [luhn_complete(f"628000{n:09d}") for n in range(count)]


def prime_messages(pans: list[str], de7: str) -> list[Message]:
    """Sign on terminal P0000001 and earn on every card, so that burns find points."""
    out = [Message(mti="0800", fields={7: de7, 11: "000001", 41: "P0000001", 70: "001"})]
    for n, pan in enumerate(pans):
        out.append(Message(mti="0200", fields={
            2: pan, 3: "000000", 4: "000010000000", 7: de7, 11: f"{n + 2:06d}",
            41: "P0000001", 42: STORES[1]}))
    return out


class Terminal:
    """One terminal's requests: a sign-on first (when `signon`), then the mix."""

    def __init__(self, tid: str, pans: list[str], rng: random.Random, de7: str,
                 signon: bool) -> None:
        self.tid = tid
        self.pans = pans
        self.rng = rng
        self.de7 = de7
        self.signon = signon
        self.stan = 0
        self.previous: Message | None = None

    def message(self) -> Message:
        self.stan = self.stan % 999_999 + 1
        base: dict[int, str | bytes] = {7: self.de7, 11: f"{self.stan:06d}", 41: self.tid}
        roll = self.rng.random()
        if self.signon and self.stan == 1:
            return Message(mti="0800", fields={**base, 70: "001"})
        base[42] = STORES[int(self.tid[1:]) % 3]
        pan = self.rng.choice(self.pans)
        if roll < 0.60:
            fields = {2: pan, 3: "000000", 4: f"{self.rng.choice((50_000, 200_000)):012d}"}
        elif roll < 0.85:
            fields = {2: pan, 3: "900000", 4: f"{self.rng.choice((1_000, 3_000)):012d}"}
        elif roll < 0.95 or self.previous is None:
            fields = {2: pan, 3: "310000"}
        else:
            p = self.previous
            od = OriginalData(p.mti, str(p.fields[11]), str(p.fields[7]))
            msg = Message(mti="0400", fields={**base, 2: p.fields[2], 3: p.fields[3],
                                              4: p.fields.get(4, "0" * 12), 90: build_de90(od)})
            self.previous = None
            return msg
        msg = Message(mti="0200", fields={**base, **fields})
        self.previous = msg
        return msg
