"""End-to-end parts: the real switch (`python -m lps.cli serve`) and the real agent
(`python -m terminal_agent run`), each in its own process, on free ports and temp files."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

from tests.ports import free_port
from tests.waits import EVENT, START

from .mqttwatch import publish
from .register import ACK, STX, Register, fields, frame

ROOT = Path(__file__).resolve().parents[2]
LPS_TOML = ROOT / "examples" / "lps.toml"


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not listening on {port} after {timeout:g} s")
        time.sleep(0.05)


class Switch:
    """The project's switch on free ports with its own database; stop/start keeps the data."""

    def __init__(self, workdir: Path, require_mac: bool = False,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        text = LPS_TOML.read_text()
        text = re.sub(r'listen_ascii = "[^"]*"', f'listen_ascii = "127.0.0.1:{self.port}"', text)
        self.bcd_port = free_port()
        text = re.sub(r'listen_bcd = "[^"]*"', f'listen_bcd = "127.0.0.1:{self.bcd_port}"', text)
        text = re.sub(r'metrics = "[^"]*"', f'metrics = "127.0.0.1:{free_port()}"', text)
        text = re.sub(r'database = "[^"]*"', f'database = "{self.dir / "lps.db"}"', text)
        if require_mac:
            text = re.sub(r"require_mac = false", "require_mac = true", text)
        if tls is not None:
            text += f'\n[switch.tls.ascii]\ntls_cert = "{tls[0]}"\ntls_key = "{tls[1]}"\n'
        self.config = self.dir / "lps.toml"
        self.config.write_text(text)
        self.log = self.dir / "switch.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lps.cli", "serve", "--config", str(self.config)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, START, "switch")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(EVENT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self) -> None:
        """SIGKILL: the switch dies at whatever instant it was in (a SIGSTOPped one too,
        without running again: what its sockets held is never read)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered (a hung switch)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def take_keys_of(self, other: Switch) -> None:
        """Start from a copy of `other`'s stopped database and LMK: the same terminal keys (as
        nodes of one switch share them), separate data from here on."""
        assert self.proc is None and other.proc is None
        for path in other.dir.iterdir():
            if path.name.startswith("lps.db") or path.name == "lmk.json":
                shutil.copy2(path, self.dir / path.name)

    def lps(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lps.cli", *args, "--config",
                               str(self.config)], cwd=ROOT, capture_output=True, text=True,
                              timeout=START)

    def balance(self, pan: str) -> int:
        """The card's available points in this switch's database (0: never seen here)."""
        out = self.lps("balance", pan)
        if out.returncode == 1 and "not enrolled" in out.stderr:
            return 0
        found = re.search(r"points\s+(-?\d+) available", out.stdout)
        assert out.returncode == 0 and found, out.stdout + out.stderr
        return int(found.group(1))

    def journal(self, pan: str) -> list[tuple[str, str]]:
        """(kind, response code) of the card's journal rows, oldest first (`lps cards show`)."""
        out = self.lps("cards", "show", pan)
        if out.returncode == 1 and "not enrolled" in out.stderr:
            return []
        assert out.returncode == 0, out.stdout + out.stderr
        rows = re.findall(r"^\s+#\d+\s+\S+\s+(\w+)\s+\S+\s+rc=(\S+)", out.stdout, re.M)
        return list(reversed(rows))


class AgentOptions(TypedDict, total=False):
    """AgentProc's keyword settings, for the fixtures that make agents and pass them on."""

    reader: str
    mqtt: str
    terminal_id: str
    store_id: str
    extra: str
    profile: str
    request_timeout: float
    card_wait: float
    card_read_timeout: float
    failback_after: float | None
    connect_timeout: float


class AgentProc:
    """`lps-agent run` with a register (pty) and, when given, a vpcd reader and a broker.

    The agent's own timeouts default to EVENT: a card that is there, a switch that runs, must
    never look absent because the machine is slow. A test that checks one of them firing (no
    card, a mute card, a hung switch) passes a short value for it.
    """

    def __init__(self, workdir: Path, switch: str | list[str], reader: str = "auto",
                 mqtt: str = "", terminal_id: str = "T0000001",
                 store_id: str = "STORE0000000001", extra: str = "", profile: str = "ascii",
                 request_timeout: float = EVENT, card_wait: float = EVENT,
                 card_read_timeout: float = EVENT, failback_after: float | None = None,
                 connect_timeout: float = EVENT) -> None:
        """`switch`: one address (`[agent].switch`) or a list (`[switch].hosts`)."""
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.register = Register()
        self.config = self.dir / "agent.toml"
        single = f'switch = "{switch}"\n' if isinstance(switch, str) else ""
        text = ("[agent]\n"
                f'terminal_id = "{terminal_id}"\nstore_id = "{store_id}"\n'
                f'{single}profile = "{profile}"\n'
                f'ecr_port = "{self.register.port}"\nreader = "{reader}"\n'
                f"card_wait_seconds = {card_wait}\nrequest_timeout_seconds = {request_timeout}\n"
                f"card_read_timeout_seconds = {card_read_timeout}\n"
                "reconnect_max_seconds = 0.5\n"
                f'data_dir = "{self.dir / "data"}"\nmqtt = "{mqtt}"\n' + extra)
        # a connection includes the TLS handshake, which a loaded machine can slow
        text += f"[switch]\nconnect_timeout_seconds = {connect_timeout}\n"
        if not isinstance(switch, str):
            text += "hosts = [" + ", ".join(f'"{h}"' for h in switch) + "]\n"
            if failback_after is not None:
                text += f"failback_after_seconds = {failback_after}\n"
        self.config.write_text(text)
        # an answer comes after the card wait, the card read and the switch's answer
        self.answer_deadline = card_wait + card_read_timeout + request_timeout + EVENT
        self.last_answer: bytes | None = None
        self.log = self.dir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.terminal_id, self.mqtt = terminal_id, mqtt

    def mark(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def start(self) -> None:
        self.started_at = self.mark()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "terminal_agent", "run", "--config", str(self.config)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def start_ready(self) -> None:
        self.start()
        self.wait_ready()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(EVENT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        self.register.close()

    def ask(self, *parts: str) -> list[str]:
        """One register request; returns the RESP fields.

        The agent sends an answer again when our ACK reaches it after its 1 s ACK timeout
        (docs/agent.md, Register link), which a loaded machine can make happen: such a copy of
        the last answer, still in the line, is read and dropped, as a register does with a frame
        it has already taken.
        """
        self.register.write(frame(fields(*parts)))
        ack = self.register.read_byte(EVENT)
        while ack == STX and self.last_answer is not None:
            self.register.unread(ack)
            again = self.register.read_frame(EVENT, answer=None)
            assert again == self.last_answer, f"agent sent {again!r} before ACKing {parts}"
            ack = self.register.read_byte(EVENT)
        assert ack == ACK, f"agent answered {ack!r} to {parts}"
        self.last_answer = self.register.read_frame(self.answer_deadline)
        return self.last_answer.decode().split("\x1c")

    def wait_log(self, text: str, since: int, timeout: float = EVENT) -> None:
        """Wait for `text` in the agent's log after byte offset `since`."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.log.read_bytes()[since:]:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"agent died:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {text!r} in agent log:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def configure_live(self, **changes: float) -> None:
        """Change settings of the running agent as an operator does, with a retained message on
        its MQTT `config` topic (docs/agent.md, Fleet); return once the agent has applied them."""
        url = urlsplit(self.mqtt)
        assert url.hostname and url.port, "configure_live needs an agent with a broker"
        mark = self.mark()
        topic = f"lps/v1/terminals/{self.terminal_id}/config"
        asyncio.run(publish(url.hostname, url.port, topic, changes, retain=True))
        self.wait_log(f"live config applied: {', '.join(sorted(changes))}", mark)

    def wait_ready(self) -> None:
        """The register line is open (a frame sent before that is flushed by the open)."""
        self.wait_log("ECR link open", self.started_at)

    def wait_signed_on(self, since: int | None = None) -> None:
        self.wait_log("signed on to", self.started_at if since is None else since)

    def outbox(self) -> dict[str, int]:
        """What the agent still holds on disk, by kind."""
        db = sqlite3.connect(f"file:{self.dir / 'data' / 'agent.db'}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT kind, COUNT(*) FROM outbox GROUP BY kind").fetchall()
        finally:
            db.close()
        return {k: n for k, n in rows}

    def wait_drained(self, timeout: float = EVENT) -> None:
        deadline = time.monotonic() + timeout
        while (left := self.outbox()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"outbox not drained: {left}\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)


def new_terminal_key(switch: Switch, terminal_id: str) -> tuple[list[str], str]:
    """`lps keys new-terminal`: the TMK's two clear components and its check value, as the
    custodians would carry them to the terminal."""
    out = subprocess.run([sys.executable, "-m", "lps.cli", "keys", "new-terminal", terminal_id,
                          "--config", str(switch.config)], cwd=ROOT, capture_output=True,
                         text=True, timeout=START)
    assert out.returncode == 0, out.stderr
    comps = re.findall(r"component \d\s+((?:[0-9A-F]{4} ?){8})", out.stdout)
    kcv = re.search(r"new terminal master key, check value ([0-9A-F]{6})", out.stdout)
    assert len(comps) == 2 and kcv, out.stdout
    return [c.strip() for c in comps], kcv.group(1)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A self-signed server certificate for 127.0.0.1 and localhost (PEM cert, PEM key)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lps switch (test)")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    tmp.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = tmp / "switch.crt", tmp / "switch.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path
