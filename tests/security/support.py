"""A terminal that does its own cryptography (it holds its clear keys, as a PIN pad does),
a config file for the real switch, and a raw framed client to see the exact response bytes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import ssl
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hsm_sim import primitives as P
from iso8583 import Message, Profile, frame, load_profile
from iso8583.loyalty import build_tlv, parse_tlv
from lps.cli import main as lps_main
from switch.config import Config, load_config
from switch.server import Switch
from tests.engines import toml_settings
from tests.switch.support import EXAMPLE
from tests.waits import EVENT

TPDU = b"\x60\x00\x01\x00\x02"


def write_config(tmp: Path, *, require_mac: bool = False, hsm: str = "inproc",
                 tls: tuple[Path, Path] | None = None,
                 journal: dict[str, Any] | None = None) -> Path:
    """The example configuration on free ports, with its LMK in `tmp` and its journal there or
    where `journal` (tests/engines.py `journal_settings`) says."""
    text = EXAMPLE.read_text()
    text = text.replace('"127.0.0.1:8583"', '"127.0.0.1:0"')
    text = text.replace('"127.0.0.1:8584"', '"127.0.0.1:0"')
    text = text.replace('"127.0.0.1:9583"', '"127.0.0.1:0"')
    if journal is None:
        text = text.replace('"var/lps.db"', f'"{tmp / "lps.db"}"')
    else:
        text = re.sub(r'(?m)^database = "var/lps.db".*\n', lambda _: toml_settings(journal), text)
    text = text.replace('hsm = "inproc"', f'hsm = "{hsm}"')
    text = text.replace("require_mac = false", f"require_mac = {str(require_mac).lower()}")
    extra = ""
    if tls is not None:
        extra = (f'\n[switch.tls.ascii]\ntls_cert = "{tls[0]}"\ntls_key = "{tls[1]}"\n'
                 f'\n[switch.tls.bcd]\ntls_cert = "{tls[0]}"\ntls_key = "{tls[1]}"\n')
    head, sep, rest = text.partition("\n[coalition.")
    path = tmp / "lps.toml"
    path.write_text(head + extra + sep + rest)
    return path


def lps(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    """Run `lps` in this process (the real CLI), with `stdin`; returns (code, out, err)."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        code = lps_main(list(argv))
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def new_terminal(config_path: Path, tid: str) -> bytes:
    """`lps keys new-terminal TID`; the terminal's clear TMK from the printed components."""
    code, out, err = lps("keys", "new-terminal", tid, "--config", str(config_path))
    assert code == 0, err
    comps = [line.split("component ")[1][2:].split("check value")[0].replace(" ", "")
             for line in out.splitlines() if line.startswith("  component ")]
    assert len(comps) == 2
    return bytes(a ^ b for a, b in zip(bytes.fromhex(comps[0]), bytes.fromhex(comps[1]),
                                       strict=True))


@contextlib.contextmanager
def hsm_server(directory: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`lps-hsm serve` in its own process with a new LMK in `directory`, authorised (so that
    `lps keys new-terminal` may print a TMK's components); its `tcp://` URL and process."""
    lmk = directory / "lmk.json"
    # The installed command an operator runs (pyproject.toml, [project.scripts]), not the
    # module behind it: this is what tests that the entry point works.
    cli = [str(Path(sys.executable).parent / "lps-hsm")]
    subprocess.run([*cli, "init", "--lmk", str(lmk)], check=True, capture_output=True)
    console = lmk.with_name("console")
    proc = subprocess.Popen([*cli, "serve", "--lmk", str(lmk), "--listen", "127.0.0.1:0",
                             "--console", str(console)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line
        assert "console on" in proc.stdout.readline()
        # `lps keys new-terminal` splits the TMK with NE: the Authorised state (docs/hsm.md §6)
        subprocess.run([*cli, "authorise", "--console", str(console)], check=True,
                       capture_output=True)
        yield "tcp://" + line.split("listening on")[1].strip(), proc
    finally:
        proc.terminate()
        proc.wait(EVENT)


@contextlib.asynccontextmanager
async def running(config: Config | Path) -> AsyncIterator[Switch]:
    sw = Switch(load_config(config) if isinstance(config, Path) else config)
    await sw.start()
    try:
        yield sw
    finally:
        await sw.stop()


@dataclass
class Terminal:
    """A PIN pad / POS: its TMK, session keys after a key exchange, a framed connection."""

    tid: str
    profile_name: str
    tmk: bytes
    mac_key: bytes | None = None
    pin_key: bytes | None = None
    stan: int = 0
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    sent: list[bytes] = field(default_factory=list)

    @property
    def profile(self) -> Profile:
        return load_profile(self.profile_name)

    @property
    def tpdu(self) -> bytes | None:
        return TPDU if self.profile_name == "bcd" else None

    async def connect(self, sw: Switch, ssl_context: ssl.SSLContext | None = None) -> Terminal:
        addr = sw.addresses[self.profile_name]
        self.reader, self.writer = await asyncio.open_connection(
            addr.host, addr.port, ssl=ssl_context,
            server_hostname="localhost" if ssl_context else None)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await self.writer.wait_closed()

    async def exchange(self, payload: bytes) -> bytes:
        assert self.reader is not None and self.writer is not None
        self.writer.write(frame(payload))
        size = struct.unpack(">H", await asyncio.wait_for(self.reader.readexactly(2), EVENT))[0]
        return await self.reader.readexactly(size)

    def next_stan(self) -> int:
        self.stan += 1
        return self.stan

    def encode(self, msg: Message, mac: bool = True) -> bytes:
        """The request as sent: with DE64/DE128 = ISO 9797-1 alg 3 over `mac_span`."""
        msg.tpdu = self.tpdu
        if not mac or self.mac_key is None:
            return self.profile.encode(msg)
        msg.fields[msg.mac_field] = bytes(8)
        raw = self.profile.encode(msg)
        mac8 = P.retail_mac(self.mac_key, self.profile.mac_span(raw))
        return self.profile.replace_mac(raw, mac8)

    def check_response(self, raw: bytes) -> Message:
        """Decode a response and verify its MAC (every response, once keys are installed)."""
        msg = self.profile.decode(raw)
        if self.mac_key is not None:
            mac = msg.fields.get(msg.mac_field)
            assert isinstance(mac, bytes), f"response {msg.mti} carries no MAC"
            assert mac == P.retail_mac(self.mac_key, self.profile.mac_span(raw)), "bad MAC"
        return msg

    async def send(self, msg: Message, mac: bool = True) -> Message:
        return self.check_response(await self.exchange(self.encode(msg, mac)))

    async def key_exchange(self, stan: int = 800001) -> Message:
        msg = Message("0800", {7: "1123100000", 11: f"{stan:06d}", 41: self.tid, 70: "101"})
        raw = await self.exchange(self.encode(msg, mac=False))
        resp = self.profile.decode(raw)
        assert resp.fields[39] == "00", resp.fields
        tags = parse_tlv(str(resp.fields[48]))
        mac_key = P.tdes_decrypt_ecb(self.tmk, bytes.fromhex(tags["MK"]))
        pin_key = P.tdes_decrypt_ecb(self.tmk, bytes.fromhex(tags["PK"]))
        assert P.kcv(mac_key).hex().upper() == tags["MV"]
        assert P.kcv(pin_key).hex().upper() == tags["PV"]
        self.mac_key, self.pin_key = mac_key, pin_key
        return self.check_response(raw)  # the 0810 is MACed under the new key

    def pin_block(self, pin: str, pan: str) -> bytes:
        assert self.pin_key is not None
        return P.tdes_encrypt_ecb(self.pin_key, P.pin_block_iso0(pin, pan))


def dukpt_pin_block(bdk: bytes, ksn: bytes, pin: str, pan: str) -> bytes:
    """A DUKPT PIN pad's DE52 for `ksn` (ANSI X9.24-1 PIN variant of the transaction key)."""
    key = P.tdes_dukpt_key(P.tdes_dukpt_ipek(bdk, ksn), ksn, "pin")
    return P.tdes_encrypt_ecb(key, P.pin_block_iso0(pin, pan))


def tags(**kw: str) -> str:
    return build_tlv(kw)
