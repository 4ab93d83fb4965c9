"""Real services for the agent's tests: pcscd with the vpcd driver, and mosquitto.

A service already running is reused; one we start is stopped at the end (pcscd, which every
session on the machine shares, by the last session that uses it). Under CI=true a service that
cannot be had is a test failure, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, Protocol, TypedDict, Unpack

import pytest

from terminal_agent.testing.services import (
    ServiceUnavailable,
    pcscd_with_vpcd,
    serving_again,
    wait_slot_empty,
    wait_until,
)
from terminal_agent.testing.services import vpcd_slots as services_vpcd_slots
from terminal_agent.testing.vicc import VPCD_PORTS, VPCD_READERS, VirtualLoyaltyCard
from tests.ports import free_port
from tests.waits import EVENT, START

# Another session's agent tests hold the slots one test at a time; on a loaded machine a test
# may take minutes, and a few may be queued ahead of ours.
SLOTS_WAIT = 4 * START


def unavailable(why: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"required service missing under CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def pcscd() -> Iterator[None]:
    """pcscd with vpcd's readers; start it when it is not running."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(pcscd_with_vpcd())
        except ServiceUnavailable as exc:
            unavailable(str(exc))
        yield


def wait_presence(reader: str, present: bool, timeout: float = EVENT) -> None:
    from terminal_agent.card.pcsc import card_present

    wait_until(lambda: card_present(reader) is present, timeout,
          f"card {'in' if present else 'out of'} {reader}")


@pytest.fixture
def vpcd_slots(pcscd: None) -> Iterator[None]:
    """The vpcd slots belong to the whole machine: a test holds their lock while it uses them,
    and finds pcscd serving them (started again when another session stopped it)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(services_vpcd_slots(SLOTS_WAIT))
        except ServiceUnavailable as exc:
            pytest.fail(f"vpcd slots held by another test session: {exc}")
        try:
            serving_again()
        except ServiceUnavailable as exc:
            unavailable(str(exc))
        yield


class CardFields(TypedDict, total=False):
    """What a test may choose of a VirtualLoyaltyCard (its port is the slot's)."""

    pan: str
    expiry: str
    holder: str
    mode: str
    atr: bytes


class InsertCard(Protocol):
    """The `vcard` fixture: put a virtual card into a vpcd slot."""

    def __call__(self, slot: int = 0, wait: bool = True,
                 **kw: Unpack[CardFields]) -> VirtualLoyaltyCard: ...


@pytest.fixture
def vcard(vpcd_slots: None) -> Iterator[InsertCard]:
    """Insert virtual cards: vcard(mode=..., slot=0, **kw); all removed at the end. Whoever
    puts a card in next waits for its slot to be empty first (`slot_empty`)."""
    cards: list[VirtualLoyaltyCard] = []

    def insert(slot: int = 0, wait: bool = True, **kw: Unpack[CardFields]) -> VirtualLoyaltyCard:
        card = VirtualLoyaltyCard(port=VPCD_PORTS[slot], **kw)
        wait_slot_empty(VPCD_READERS[slot])  # after one removed in this test (slot_empty)
        card.insert()
        cards.append(card)
        if wait:
            wait_presence(VPCD_READERS[slot], True)
        return card

    yield insert
    for card in cards:
        card.remove()


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

        wait_until(up, START, "mosquitto")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(EVENT)
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
    broker = Mosquitto(exe)
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(broker.dir, ignore_errors=True)
