"""What every step of the demo shares: the demo's configuration, a simulated terminal, headings.

The demo's configuration is the example one (or --config) with its database, its LMK and its
ports moved into the demo's directory, plus one extra terminal (`T0000009`, at Book City) that
gets keys in the MAC step: the other terminals stay unkeyed, so the traffic step runs as before.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import time
from collections import Counter
from pathlib import Path

from iso8583 import Message
from iso8583.loyalty import parse_tlv
from switch.client import TerminalClient

KEYED_TERMINAL = "T0000009"
KEYED_STORE = "STORE0000000002"
#: The store whose approved purchases queue a receipt SMS (Cafe Naderi in examples/lps.toml).
RECEIPT_STORE = "STORE0000000001"
WIDTH = 78


def heading(number: int, title: str) -> None:
    print()
    print("=" * WIDTH)
    print(f"{number}. {title}")
    print("=" * WIDTH, flush=True)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_or_free(host: str, port: int) -> int:
    """The configured port when free, else any free one (another demo or switch may run)."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return free_port(host)
    return port


def demo_config(source: Path, workdir: Path, database: Path) -> Path:
    """Write the demo's lps.toml into `workdir`: `source` with the database, ports and keyed
    terminal changed; returns its path. `lps` commands and the agent read the same file."""
    text = source.read_text()

    def move(match: re.Match[str]) -> str:
        key, host, port = match.group(1), match.group(2), int(match.group(3))
        return f'{key} = "{host}:{_port_or_free(host, port)}"'

    text = re.sub(r'^(listen_ascii|listen_bcd|metrics) = "([^":]+):(\d+)"', move, text,
                  flags=re.MULTILINE)
    text, n = re.subn(r'^database = "[^"]*"', f'database = "{database}"', text,
                      flags=re.MULTILINE)
    if n != 1:
        raise ValueError(f"{source}: no [switch] database line to move into the demo directory")
    text += (f"\n# added by the demo: the terminal that gets a TMK and MACs its traffic\n"
             f'[terminal.{KEYED_TERMINAL}]\nstore = "{KEYED_STORE}"\n'
             f"# added by the demo: the cafe sends a receipt SMS per approved purchase, queued\n"
             f"# for an SMSC the demo does not run (docs/messaging.md, \"Receipts\")\n"
             f"[store.{RECEIPT_STORE}.receipts]\nsms = true\n"
             f'[messaging.sms]\nsmpp = "127.0.0.1:2775"\nsystem_id = "lps"\n'
             f'source_addr = "LPS"\n')
    path = workdir / "lps-demo.toml"
    path.write_text(text)
    return path


@dataclasses.dataclass
class TerminalSim:
    """One store's terminal: one request at a time, as a real POS sends them."""

    tid: str
    store: str
    profile: str
    client: TerminalClient | None  # None: the caller sends the messages itself
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

    def count(self, msg: Message, reply: Message) -> None:
        """The terminal's own batch totals, as it will report them in 0500."""
        if reply.fields.get(39) != "00" or msg.mti != "0200":
            return
        pc, amount = msg.fields.get(3), int(str(msg.fields.get(4, "0")))
        if pc == "000000":
            self.totals[74] += 1
            self.totals[86] += amount
            self.earns_by_rrn[str(reply.fields[37])] = msg
        elif pc in ("900000", "006000"):
            self.totals[76] += 1
            self.totals[88] += amount
        self.approved[str(msg.fields[11])] = msg

    def batch_close(self) -> Message:
        """The 0500 of this terminal's batch with its own totals (DE74-77, DE86-89)."""
        fields: dict[int, str | bytes] = {3: "920000", 62: self.batch}
        for n in (74, 75, 76, 77):
            fields[n] = f"{self.totals[n]:010d}"
        for n in (86, 87, 88, 89):
            fields[n] = f"{self.totals[n]:016d}"
        return self.message("0500", fields)


def tags(msg: Message) -> dict[str, str]:
    """DE48's tags of a response ({} when it has none)."""
    text = msg.text(48, "")
    return dict(parse_tlv(text)) if text else {}


def amount(value: int) -> str:
    return f"{value:,} IRR"


def points_balance(msg: Message) -> int | None:
    """The points balance of DE54 (entry `00` `02` `999`, C or D), None when absent."""
    text = msg.text(54, "")
    for i in range(0, len(text) - 19, 20):
        entry = text[i:i + 20]
        if entry.startswith("0002999"):
            value = int(entry[8:])
            return -value if entry[7] == "D" else value
    return None
