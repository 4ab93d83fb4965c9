"""Step 2 of the demo: one terminal keyed, its traffic MACed, a tampered message refused.

The switch side is the real one: `lps keys new-terminal` (the HSM makes the TMK, the running
switch stores it under the LMK through its admin socket) and the switch's key exchange and MAC
checks. The terminal side is the agent's own code (terminal_agent.security: TMK check value,
unwrapping the session key, the X9.19 MAC) over the codec's MAC span, on a raw connection so
that the demo can also send a message altered after its MAC was computed.
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass

from iso8583 import FrameDecoder, Message, frame, load_profile
from lps.keys_cli import open_hsm, persist
from switch.config import Config
from switch.core.luhn import luhn_complete, mask_pan
from switch.security.admin import terminal_id
from switch.server import Switch
from terminal_agent.security import MAC_MTIS, kcv, retail_mac, unwrap

from .common import KEYED_TERMINAL, TerminalSim, amount, points_balance, tags


@dataclass(frozen=True)
class TerminalKey:
    """What `lps keys new-terminal` gives the custodians: two components and a check value."""

    components: tuple[str, str]
    kcv: str


def new_terminal_key(config: Config, tid: str) -> TerminalKey:
    """`lps keys new-terminal TID`, in-process (blocking: the running switch's admin socket)."""
    hsm = open_hsm(config)
    try:
        tmk = hsm.generate_tmk()
        first, second = hsm.export_tmk_components(tmk.key_lmk)
    finally:
        hsm.close()
    persist(config, {"cmd": "set-tmk", "tid": terminal_id(tid), "key": tmk.key_lmk, "kcv": tmk.kcv})
    return TerminalKey((first.component, second.component), tmk.kcv)


class MacTerminal:
    """A terminal on its own connection, one request at a time, keeping the raw answer."""

    def __init__(self, sim: TerminalSim, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.sim = sim
        self.profile = load_profile(sim.profile)
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder(65535)
        self.mac_key: bytes | None = None

    def encode(self, msg: Message) -> bytes:
        """The message as sent: MACed under the session key when it is one that needs it."""
        if self.mac_key is None or msg.mti not in MAC_MTIS:
            return self.profile.encode(msg)
        msg.fields[msg.mac_field] = bytes(8)
        raw = self.profile.encode(msg)
        return self.profile.replace_mac(raw, retail_mac(self.mac_key,
                                                        self.profile.mac_span(raw)))

    async def send_raw(self, raw: bytes) -> tuple[Message, bool]:
        """Send one encoded request; the answer and whether its MAC verified."""
        self.writer.write(frame(raw, 65535))
        await self.writer.drain()
        while True:
            for payload in self.decoder.frames():
                reply = self.profile.decode(payload)
                return reply, self.mac_ok(payload, reply)
            data = await asyncio.wait_for(self.reader.read(65536), 30)
            if not data:
                raise ConnectionError("the switch closed the connection")
            self.decoder.feed(data)

    def mac_ok(self, payload: bytes, reply: Message) -> bool:
        got = reply.get(reply.mac_field)
        if self.mac_key is None or not isinstance(got, bytes):
            return False
        return hmac.compare_digest(got, retail_mac(self.mac_key,
                                                   self.profile.mac_span(payload)))

    async def send(self, msg: Message) -> tuple[Message, bool]:
        reply, mac = await self.send_raw(self.encode(msg))
        self.sim.count(msg, reply)
        return reply, mac


def _show(what: str, reply: Message, mac: bool, extra: str = "") -> None:
    print(f"  {what:40} -> {reply.text(39)}, response MAC "
          f"{'verified' if mac else 'NOT verified'}" + (f", {extra}" if extra else ""))


async def run_macs(sw: Switch, config: Config) -> tuple[bool, TerminalKey]:
    """Key the demo terminal and run its MACed traffic; True when everything went as the
    protocol says (including the 63)."""
    tid = KEYED_TERMINAL
    store = config.stores[config.terminals[tid].store]
    key = await asyncio.to_thread(new_terminal_key, config, tid)
    print(f"lps keys new-terminal {tid}: TMK made by the HSM, stored under the LMK, "
          f"check value {key.kcv}")
    tmk = bytes(a ^ b for a, b in zip(*(bytes.fromhex(c) for c in key.components),
                                      strict=True))
    loaded = kcv(tmk)
    print(f"terminal {tid} loads the two components (XOR): check value {loaded} "
          + ("matches" if loaded == key.kcv else "DOES NOT MATCH"))
    addr = sw.addresses["ascii"]
    reader, writer = await asyncio.open_connection(addr.host, addr.port)
    term = MacTerminal(TerminalSim(tid, store.id, "ascii", None, batch="000003"), reader,
                       writer)
    ok = loaded == key.kcv
    try:
        reply, _ = await term.send(term.sim.message("0800", {70: "001"}))
        print(f"  {'sign-on (0800/001)':40} -> {reply.text(39)}")
        ok &= reply.text(39) == "00"
        raw = term.encode(term.sim.message("0800", {70: "101"}))
        reply, _ = await term.send_raw(raw)
        t = tags(reply)
        term.mac_key = unwrap(tmk, t["MK"], t["MV"])
        print(f"  {'key exchange (0800/101)':40} -> {reply.text(39)}, session MAC key "
              f"under the TMK, check value {t['MV']} verified by the terminal")
        ok &= reply.text(39) == "00"
        pan = luhn_complete(f"{next(iter(config.coalitions.values())).card_bins[0]}666000001")
        common: dict[int, str | bytes] = {2: pan, 22: "071", 62: term.sim.batch}
        earn = 800_000
        reply, mac = await term.send(term.sim.message(
            "0200", {**common, 3: "000000", 4: f"{earn:012d}"}))
        _show(f"earn {amount(earn)}, card {mask_pan(pan)}", reply, mac,
              f"points {tags(reply).get('EP')}")
        ok &= reply.text(39) == "00" and mac
        before = points_balance(reply)
        burn = 50_000
        redeem = term.sim.message("0200", {**common, 3: "900000", 4: f"{burn:012d}"})
        genuine = term.encode(redeem)
        digits = f"{burn:012d}".encode()
        tampered = genuine.replace(digits, f"{burn // 10:012d}".encode(), 1)
        assert tampered != genuine, "the amount was not found in the encoded message"
        reply, mac = await term.send_raw(tampered)
        ok &= reply.text(39) == "63"
        _show(f"redeem, DE4 altered after the MAC ({amount(burn // 10)})", reply, mac,
              "declined, no effect")
        reply, mac = await term.send(term.sim.message("0200", {**common, 3: "310000"}))
        after = points_balance(reply)
        _show("balance inquiry", reply, mac,
              f"balance {after} (before the tampered redeem: {before})")
        ok &= after == before
        reply, mac = await term.send_raw(genuine)
        term.sim.count(redeem, reply)
        _show(f"the genuine redeem {amount(burn)}, same STAN", reply, mac,
              f"points {tags(reply).get('RD')}, balance {points_balance(reply)}")
        ok &= reply.text(39) == "00" and mac
        reply, mac = await term.send(term.sim.batch_close())
        _show(f"batch close (0500) of batch {term.sim.batch}", reply, mac,
              "in balance" if reply.text(39) == "00" else "OUT OF BALANCE")
        ok &= reply.text(39) == "00" and mac
    finally:
        writer.close()
        await writer.wait_closed()
    return ok, key
