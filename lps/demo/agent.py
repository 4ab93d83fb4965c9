"""Step 5 of the demo: the real terminal agent with a virtual card and a cash register.

pcscd's vpcd driver gives a virtual reader; terminal_agent.testing.vicc is the card in it. The
agent (`python -m terminal_agent run`, its own process) signs on to the demo switch as the keyed
terminal (it loads the TMK components and does its own key exchange, so its traffic is
MACed), the cash register is the master end of a pty pair, and one `EARN` frame goes in. When
pcscd or vpcd is missing, or pcscd is stopped and we cannot start it (not root), the step is
skipped with the reason: the rest of the demo does not depend on it.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

from switch.config import Config
from terminal_agent.ecr.frames import ACK, ETX, FS, STX, encode_frame, lrc
from terminal_agent.testing.services import (
    ServiceUnavailable,
    pcscd_with_vpcd,
    vpcd_slots,
    wait_until,
)
from terminal_agent.testing.vicc import VPCD_PORTS, VPCD_READERS, VirtualLoyaltyCard

from .common import KEYED_TERMINAL
from .macs import TerminalKey

ROOT = Path(__file__).resolve().parents[2]
# This step cannot run on this machine; the message says why.
Skip = ServiceUnavailable


class Register:
    """The cash register: the master end of a pty pair; the agent opens the slave's path."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        for fd in (self.master, self.slave):
            tty.setraw(fd)
        attrs = termios.tcgetattr(self.slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        self.port = os.ttyname(self.slave)
        self.buf = b""

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def byte(self, deadline: float) -> int:
        while not self.buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("the agent sent nothing in time")
            self.buf += os.read(self.master, 4096)
        b, self.buf = self.buf[0], self.buf[1:]
        return b

    def request(self, payload: bytes, timeout: float = 30.0) -> bytes:
        """Send a frame, expect ACK, read the answer frame (LRC checked), ACK it."""
        deadline = time.monotonic() + timeout
        os.write(self.master, encode_frame(payload))
        if (ack := self.byte(deadline)) != ACK:
            raise RuntimeError(f"the agent answered {ack:#04x}, not ACK")
        while self.byte(deadline) != STX:
            pass
        body = b""
        while (b := self.byte(deadline)) != ETX:
            body += bytes([b])
        if self.byte(deadline) != lrc(body + bytes([ETX])):
            raise RuntimeError("bad LRC from the agent")
        os.write(self.master, bytes([ACK]))
        return body


def _wait_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    def seen() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the agent exited with {proc.returncode}:\n"
                               f"{log.read_text()[-2000:]}")
        return text.encode() in log.read_bytes()

    wait_until(seen, timeout, f"agent ({text!r} in {log})")


def run_agent(config: Config, workdir: Path, key: TerminalKey, pan: str) -> bool:
    """The whole step (blocking: run it in a thread while the switch serves)."""
    from switch.core.luhn import mask_pan

    addr = config.switch.listen_ascii
    if addr is None:
        raise Skip("the configuration has no ascii listener for the agent")
    # Another session on this machine (a test run) may hold the vpcd slots for minutes.
    with pcscd_with_vpcd() as how, vpcd_slots(240.0):
        if how.startswith("pcscd already running"):
            how = ("pcscd: using the one already running on this machine (the demo did not "
                   "start it and leaves it running)")
        print(how)
        register = Register()
        card = VirtualLoyaltyCard(pan=pan, port=VPCD_PORTS[0])
        agent_dir = workdir / "agent"
        agent_dir.mkdir(exist_ok=True)
        cfg = agent_dir / "agent.toml"
        comps = ", ".join(f'"{c}"' for c in key.components)
        cfg.write_text(
            "[agent]\n"
            f'terminal_id = "{KEYED_TERMINAL}"\n'
            f'store_id = "{config.terminals[KEYED_TERMINAL].store}"\n'
            f'switch = "{addr.host}:{addr.port}"\nprofile = "ascii"\n'
            f'ecr_port = "{register.port}"\nreader = "{VPCD_READERS[0]}"\n'
            "card_wait_seconds = 10\nrequest_timeout_seconds = 10\n"
            f'data_dir = "{agent_dir / "data"}"\nmqtt = ""\n'
            f"tmk_components = [{comps}]\ntmk_kcv = \"{key.kcv}\"\n")
        cfg.chmod(0o600)  # it holds the terminal's key components
        log = agent_dir / "agent.log"
        card.insert()
        proc: subprocess.Popen[bytes] | None = None
        try:
            print(f"virtual card {mask_pan(pan)} in reader {VPCD_READERS[0]!r}; cash register "
                  f"on {register.port}")
            with open(log, "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "terminal_agent", "run", "--config", str(cfg)],
                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            _wait_log(log, "session MAC key installed", proc, 20)
            _wait_log(log, "signed on to", proc, 20)
            _wait_log(log, "ECR link open", proc, 20)
            print(f"lps-agent run: signed on to {addr.host}:{addr.port} as {KEYED_TERMINAL} "
                  f"after its key exchange (log {log})")
            request = FS.to_bytes().join([b"EARN", b"300000", b"INV-DEMO-1"])
            print("register -> agent: " + request.replace(FS.to_bytes(), b"|").decode())
            answer = register.request(request)
            parts = answer.decode().split(chr(FS))
            print("agent -> register: " + "|".join(parts))
            names = ("code", "RRN", "earned", "redeemed", "balance", "message")
            print("  " + ", ".join(f"{n} {v or '-'}" for n, v in zip(names, parts[1:],
                                                                   strict=False)))
            return parts[:2] == ["RESP", "00"]
        finally:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            card.remove()
            register.close()
