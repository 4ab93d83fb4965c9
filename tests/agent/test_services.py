"""Waiting for pcscd: vpcd's ports free for it, and its client socket after them.

pcscd binds vpcd's TCP ports before its client socket, so whoever starts it can find the port
listening while PC/SC still answers "service not available". That moment is made here by
pointing a client at a socket path nobody serves (`PCSCLITE_CSOCK_NAME`, read by libpcsclite).

vpcd's ports are fixed (/etc/reader.conf.d/vpcd) and any socket on one, a test's connection
the kernel gave that port among them, makes vpcd's bind fail: pcscd then serves no such
reader. So pcscd is started only once the ports are free, and they are reserved from then on.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from terminal_agent.testing import services
from terminal_agent.testing.services import vpcd_reader_listed, wait_until
from terminal_agent.testing.vicc import VPCD_PORTS
from tests.waits import EVENT

PROBE = "from terminal_agent.testing.services import vpcd_reader_listed as f; print(f())"


def test_no_pcsc_service_yet_is_not_ready_rather_than_an_error(tmp_path: Path) -> None:
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "pcscd.comm")}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "False\n", "")


def test_pcscd_serving_lists_the_vpcd_reader(pcscd: None) -> None:
    assert vpcd_reader_listed()


def test_pcscd_holds_the_vpcd_port(pcscd: None) -> None:
    assert services.port_user(VPCD_PORTS[0]) == "pcscd"


def test_a_port_held_by_anything_else_is_not_free() -> None:
    """A listener, an outgoing connection given the port, and that connection in TIME_WAIT
    after it closed: each makes vpcd's bind fail, so each holds the port."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        listened = server.getsockname()[1]
        assert services.port_user(listened) == "other"
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        port = client.getsockname()[1]
        assert services.port_user(port) == "other"
        client.close()  # the side that closes first keeps the port in TIME_WAIT
        wait_until(lambda: accepted.recv(1) == b"", EVENT, "the close")
        accepted.close()
        assert ("06", "0") in services._sockets_on(port)
        assert services.port_user(port) == "other"
    assert services.port_user(listened) == "free"  # a listener leaves no TIME_WAIT


def test_ports_held_by_another_program_refuse_to_start_pcscd(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The wait for vpcd's ports ends in a message naming who holds them, and no pcscd."""
    monkeypatch.setattr(services, "RESERVED_PORTS", tmp_path / "reserved")
    monkeypatch.setattr(services, "PORTS_FREE_SECONDS", 0.2)
    conf = tmp_path / "vpcd"  # pcscd and its driver installed, and root: it would start
    conf.write_text("DEVICENAME /dev/null:0x8C7B\n")
    monkeypatch.setattr(services, "VPCD_CONF", conf)
    # services calls these through their modules (`shutil.which`, ...): patched there
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/sbin/pcscd")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    started: list[object] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **kw: started.append(a))
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        monkeypatch.setattr(services, "VPCD_PORTS", (port,))
        with pytest.raises(services.ServiceUnavailable) as caught:
            services._running_or_started()
    assert str(caught.value) == f"vpcd's ports are held by another program ({port}: other)"
    assert started == []


def test_reserving_ports_adds_only_what_is_missing(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    reserved = tmp_path / "ip_local_reserved_ports"
    reserved.write_text("80,1000-1010\n")
    monkeypatch.setattr(services, "RESERVED_PORTS", reserved)
    services.reserve_ports((1005, 2000))
    assert reserved.read_text() == "80,1000-1010,2000\n"
    services.reserve_ports((80, 2000))
    assert reserved.read_text() == "80,1000-1010,2000\n"
    reserved.write_text("\n")
    services.reserve_ports((35963, 35964))
    assert reserved.read_text() == "35963,35964\n"


def test_vpcd_ports_are_reserved_on_this_machine(pcscd: None) -> None:
    """Whoever serves vpcd as root keeps the kernel from lending its ports to other sockets
    (where the setting can be written: the same value written back tells)."""
    ranges = services.RESERVED_PORTS.read_text().strip()
    try:
        services.RESERVED_PORTS.write_text(ranges + "\n")
    except OSError as exc:
        pytest.skip(f"the reserved ports cannot be set here ({exc.strerror})")
    assert all(services._within(port, ranges) for port in VPCD_PORTS)


WHERE = ("from terminal_agent.testing import services, vicc; "
         "print(services.PCSCD_LOCK, services.PCSCD_USERS, services.PCSCD_PID, vicc.VPCD_LOCK)")


def test_the_machines_pcsc_locks_do_not_follow_tmpdir(tmp_path: Path) -> None:
    """A session with a TMPDIR of its own (the demo's test runs the demo so) shares the vpcd
    slots and pcscd with every other: it must take the same locks and join the same users."""
    here = subprocess.run([sys.executable, "-c", WHERE], capture_output=True, text=True,
                          check=True).stdout
    elsewhere = subprocess.run([sys.executable, "-c", WHERE], capture_output=True, text=True,
                               check=True, env={**os.environ, "TMPDIR": str(tmp_path)}).stdout
    assert here == elsewhere
    assert str(tmp_path) not in elsewhere
