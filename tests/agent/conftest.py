"""Real services for the agent's tests: pcscd with the vpcd driver, and mosquitto.

A service already running is reused; one we start is stopped at the end. Under CI=true a
service that cannot be had is a test failure, never a skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from terminal_agent.testing.vicc import VPCD_LOCK, VPCD_PORTS, VPCD_READERS, VirtualLoyaltyCard


def unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"required service missing under CI: {why}")
    pytest.skip(why)


def _listening(port: int) -> bool:
    """A local TCP listener on `port`, read from /proc so that probing inserts no card."""
    needle = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in fh.readlines()[1:]:
                cols = line.split()
                if len(cols) > 3 and (cols[1] + " ").endswith(needle) and cols[3] == "0A":
                    return True
    return False


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:g} s")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def pcscd() -> Iterator[None]:
    """pcscd with vpcd's readers; start it when it is not running."""
    if _listening(VPCD_PORTS[0]):
        yield
        return
    exe = shutil.which("pcscd") or ("/usr/sbin/pcscd" if os.path.exists("/usr/sbin/pcscd")
                                     else None)
    if exe is None:
        unavailable("pcscd is not installed")
    if not Path("/etc/reader.conf.d/vpcd").exists():
        unavailable("vsmartcard-vpcd is not installed (/etc/reader.conf.d/vpcd missing)")
    if os.geteuid() != 0:
        unavailable("pcscd is not running and starting it needs root")
    proc = subprocess.Popen([exe, "--foreground"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _listening(VPCD_PORTS[0]) or proc.poll() is not None, 15, "pcscd vpcd")
        if proc.poll() is not None:
            unavailable(f"pcscd exited with {proc.returncode}")
        from terminal_agent.card.pcsc import list_readers

        _wait(lambda: VPCD_READERS[0] in list_readers(), 10, "vpcd reader")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_presence(reader: str, present: bool, timeout: float = 10.0) -> None:
    from terminal_agent.card.pcsc import card_present

    _wait(lambda: card_present(reader) is present, timeout,
          f"card {'in' if present else 'out of'} {reader}")


@pytest.fixture
def vpcd_slots(pcscd: None) -> Iterator[None]:
    """The vpcd slots belong to the whole machine: two test sessions running at once would
    insert cards into each other's readers, so a test holds this lock while it uses them."""
    with open(VPCD_LOCK, "w") as fh:
        deadline = time.monotonic() + 180
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"vpcd slots held by another test session ({VPCD_LOCK})")
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture
def vcard(vpcd_slots: None) -> Iterator[Callable[..., VirtualLoyaltyCard]]:
    """Insert virtual cards: vcard(mode=..., slot=0, **kw); all removed at the end."""
    cards: list[tuple[VirtualLoyaltyCard, str]] = []

    def insert(slot: int = 0, wait: bool = True, **kw: object) -> VirtualLoyaltyCard:
        card = VirtualLoyaltyCard(port=VPCD_PORTS[slot], **kw)  # type: ignore[arg-type]
        card.insert()
        cards.append((card, VPCD_READERS[slot]))
        if wait:
            wait_presence(VPCD_READERS[slot], True)
        return card

    yield insert
    for card, _reader in cards:
        card.remove()
    # vpcd keeps a slot busy for seconds after a mute card: not worth waiting for that slot
    busy = {reader for card, reader in cards if card.mode == "mute"}
    for reader in {reader for _card, reader in cards} - busy:
        with contextlib.suppress(TimeoutError):
            wait_presence(reader, False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """A private broker on a free port; restartable on the same port."""

    def __init__(self, exe: str) -> None:
        self.exe = exe
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="lps-mosq-")
        self.conf = Path(self.dir) / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        _wait(up, 10, "mosquitto")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                        if os.path.exists("/usr/sbin/mosquitto") else None)
    if exe is None:
        unavailable("mosquitto is not installed")
    broker = Mosquitto(exe)  # type: ignore[arg-type]
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(broker.dir, ignore_errors=True)
