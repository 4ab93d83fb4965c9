"""Several `lps serve` nodes on one PostgreSQL journal, as real processes (docs/switch.md,
"Several nodes"): their configuration, start and stop, and a terminal's raw exchange."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from iso8583 import FrameDecoder, Message, frame, load_profile
from tests.engines import toml_settings
from tests.ports import free_port
from tests.switch.support import EXAMPLE
from tests.waits import EVENT, START

ROOT = Path(__file__).resolve().parents[2]
ASCII = load_profile("ascii")
#: The terminals the nodes' configuration adds to the example's three (all at store 1).
EXTRA_TERMINALS = [f"T{n:07d}" for n in range(100, 200)]


def node_config(directory: Path, journal_url: str, *,
                metrics: int | None = None) -> tuple[Path, int]:
    """The example configuration as one node of several: its own port and state directory,
    the shared journal, the extra terminals; the metrics endpoint on `metrics` if given."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    text = EXAMPLE.read_text()
    text = text.replace('"127.0.0.1:8583"', f'"127.0.0.1:{port}"')
    text = text.replace('listen_bcd = "127.0.0.1:8584"', 'listen_bcd = ""')
    text = text.replace('metrics = "127.0.0.1:9583"',
                        f'metrics = "127.0.0.1:{metrics}"' if metrics else 'metrics = ""')
    lines = toml_settings({"database": directory / "lps.db", "journal_url": journal_url})
    text = re.sub(r'(?m)^database = "var/lps.db".*\n', lines + 'nodes = "shared"\n', text,
                  count=1)
    text += "".join(f'\n[terminal.{tid}]\nstore = "STORE0000000001"\n'
                    for tid in EXTRA_TERMINALS)
    path = directory / "lps.toml"
    path.write_text(text)
    return path, port


@dataclass
class Node:
    """One `lps serve` process."""

    config: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """The node's stderr (a file: a pipe nobody reads would stall a node that logs)."""
        return self.config.with_name("serve.log")

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lps.cli", "serve", "--config", str(self.config),
                 "--log-level", "WARNING"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + START
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited: {self.errors()}")
            with contextlib.suppress(OSError), \
                    socket.create_connection(("127.0.0.1", self.port), 1):
                return
            time.sleep(0.05)  # polling for the port, not pacing the test
        self.kill()
        raise AssertionError(f"node not listening after {START:g} s")

    def stop(self) -> int:
        """SIGTERM and wait: the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(START)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(START)

    def errors(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.contextmanager
def nodes(tmp: Path, journal_url: str, count: int = 2) -> Iterator[list[Node]]:
    """`count` nodes on one journal, started one after the other, killed at the end."""
    made = [Node(*node_config(tmp / f"node{i}", journal_url)) for i in range(count)]
    try:
        for node in made:
            node.start()
        yield made
    except BaseException as exc:  # the nodes' own words go with the failure
        for i, node in enumerate(made):
            if node.proc is not None:
                node.kill()
                exc.add_note(f"node{i} stderr:\n{node.errors()[-4000:]}")
        raise
    finally:
        for node in made:
            node.kill()


async def exchange(port: int, msg: Message) -> bytes:
    """One request on a connection of its own: the reply frame's bytes, as the terminal
    reads them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(frame(ASCII.encode(msg), 65535))
        decoder = FrameDecoder(65535)
        async with asyncio.timeout(EVENT):
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("the node closed the connection")
                decoder.feed(data)
                for payload in decoder.frames():
                    return payload
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def answer(port: int, msg: Message) -> Message:
    return ASCII.decode(await exchange(port, msg))


def points(reply: Message) -> int:
    """The points balance of an approved reply's DE54 (docs/protocol.md §3)."""
    de54 = reply.text(54)
    for i in range(0, len(de54), 20):
        entry = de54[i:i + 20]
        if entry[2:4] == "02" and entry[4:7] == "999":
            value = int(entry[8:20])
            return -value if entry[7] == "D" else value
    raise AssertionError(f"no points balance in DE54 {de54!r}")
