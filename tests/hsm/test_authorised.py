"""The Authorised state: NE hands out clear key components only inside it (docs/hsm.md §6).

Off when a server starts; entered only from the local console for a bounded time; left by the
console's `C`, by host command `RA` or when the time is up. Real sockets throughout, and
`lps-hsm serve --console` as a subprocess with `lps-hsm authorise` / `cancel`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsm_sim import primitives as p
from hsm_sim.authority import MAX_MINUTES, AuthorisedState
from hsm_sim.client import InProcessHsm, TcpHsm
from hsm_sim.console import ConsoleError, answer, console_request
from hsm_sim.engine import HsmEngine
from hsm_sim.errors import NotAuthorisedError
from hsm_sim.hostcmd import handle
from hsm_sim.lmk import KeyType
from tests.hsm.conftest import FIXED_LMK, ServerThread
from tests.waits import EVENT, START

H = bytes.fromhex


def ask(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(struct.pack(">H", len(payload)) + payload)
    size = struct.unpack(">H", _read(sock, 2))[0]
    return _read(sock, size)


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


@pytest.fixture
def fresh(engine: HsmEngine) -> Iterator[ServerThread]:
    """A server as `lps-hsm serve` starts one: not authorised."""
    srv = ServerThread(engine)
    yield srv
    srv.stop()


def _tmk() -> tuple[bytes, str]:
    clear = p.des_odd_parity(bytes(range(16)))
    return clear, FIXED_LMK.wrap(clear, KeyType.TMK)


def test_ne_is_refused_17_outside_the_authorised_state(fresh: ServerThread) -> None:
    _, tmk = _tmk()
    with socket.create_connection((fresh.host, fresh.port), timeout=EVENT) as sock:
        reply = ask(sock, b"0001NE002" + tmk.encode() + b"2")
        assert reply == b"0001NF17"  # no component in the answer
        assert ask(sock, b"0002NC")[:8] == b"0002ND00"  # the connection stays usable
    with TcpHsm(fresh.host, fresh.port, timeout=EVENT) as hsm, pytest.raises(NotAuthorisedError,
                                                              match="authorised state"):
        hsm.export_tmk_components(tmk)


def test_console_authorises_then_ne_works_then_ra_cancels(fresh: ServerThread,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "console.sock"
    fresh.call(fresh.server.start_console(path))
    assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    assert console_request(path, "S", EVENT) == "NOT AUTHORISED"
    assert re.fullmatch(r"AUTHORISED (59\d|600)", console_request(path, "A 10", EVENT))
    clear, tmk = _tmk()
    with TcpHsm(fresh.host, fresh.port, timeout=EVENT) as hsm:
        first, second = hsm.export_tmk_components(tmk)
        assert bytes(a ^ b for a, b in zip(H(first.component), H(second.component),
                                           strict=True)) == clear
        assert p.kcv(H(first.component)).hex().upper() == first.kcv
    with socket.create_connection((fresh.host, fresh.port), timeout=EVENT) as sock:
        assert ask(sock, b"0003RA") == b"0003RB00"
        assert ask(sock, b"0004NE002" + tmk.encode() + b"2") == b"0004NF17"
        assert ask(sock, b"0005RAxx") == b"0005RB15"  # RA takes no fields
    assert console_request(path, "S", EVENT) == "NOT AUTHORISED"
    console_request(path, "A 1", EVENT)
    assert console_request(path, "C", EVENT) == "NOT AUTHORISED"
    fresh.call(fresh.server.close())
    assert not path.exists()


@pytest.mark.parametrize("line", ["A 0", f"A {MAX_MINUTES + 1}", "A ٥", "A ５", "A ²", "A",
                                  "A 5 5", "B", "", "A -1"])
def test_console_refuses_malformed_requests(line: str) -> None:
    state = AuthorisedState()
    assert answer(state, line).startswith("ERROR")
    assert not state.active


def test_the_state_ends_when_its_time_is_up() -> None:
    now = [1000.0]
    state = AuthorisedState(clock=lambda: now[0])
    assert not state.active
    state.enter(2)
    now[0] += 119.0
    assert state.active and state.remaining() == pytest.approx(1.0)
    now[0] += 1.0
    assert not state.active and state.remaining() == 0.0
    with pytest.raises(ValueError):
        state.enter(MAX_MINUTES + 1)


def test_a_bare_engine_is_never_authorised(engine: HsmEngine) -> None:
    _, tmk = _tmk()
    assert handle(engine, b"0001NE002" + tmk.encode() + b"2") == b"0001NF17"
    state = AuthorisedState()
    state.enter(1)
    assert handle(engine, b"0001NE002" + tmk.encode() + b"2", state)[:8] == b"0001NF00"


def test_in_process_needs_no_authorisation(engine: HsmEngine) -> None:
    """Whoever runs the HSM in-process holds the LMK file: more than the state would give."""
    clear, tmk = _tmk()
    first, second = InProcessHsm(engine).export_tmk_components(tmk)
    assert bytes(a ^ b for a, b in zip(H(first.component), H(second.component),
                                       strict=True)) == clear


def test_console_refuses_to_replace_a_file_or_a_live_console(fresh: ServerThread,
                                                            engine: HsmEngine,
                                                            tmp_path: Path) -> None:
    plain = tmp_path / "not-a-socket"
    plain.write_text("keep me")
    with pytest.raises(ConsoleError, match="not a socket"):
        fresh.call(fresh.server.start_console(plain))
    assert plain.read_text() == "keep me"
    live = tmp_path / "live.sock"
    fresh.call(fresh.server.start_console(live))
    other = ServerThread(engine)
    try:
        with pytest.raises(ConsoleError, match="in use"):
            other.call(other.server.start_console(live))
    finally:
        other.stop()
    with pytest.raises(ConsoleError, match="cannot reach"):
        console_request(tmp_path / "nobody.sock", "S")


def test_serve_authorise_cancel_as_subprocesses(lmk_path: Path, tmp_path: Path) -> None:
    console = tmp_path / "hsm.console"
    cli = [sys.executable, "-m", "hsm_sim.cli"]
    proc = subprocess.Popen([*cli, "serve", "--lmk", str(lmk_path), "--listen", "127.0.0.1:0",
                             "--console", str(console)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        match = re.search(r"listening on ([\d.]+):(\d+)", proc.stdout.readline())
        assert match
        assert "console on" in proc.stdout.readline()
        with TcpHsm(match.group(1), int(match.group(2)), timeout=EVENT) as hsm:
            tmk = hsm.generate_tmk()
            with pytest.raises(NotAuthorisedError):
                hsm.export_tmk_components(tmk.key_lmk)
            done = subprocess.run([*cli, "authorise", "--console", str(console), "--minutes",
                                   "5"], capture_output=True, text=True, timeout=START)
            assert done.returncode == 0, done.stderr
            assert "AUTHORISED for 5 minutes" in done.stdout
            first, second = hsm.export_tmk_components(tmk.key_lmk)
            assert first.component != second.component
            done = subprocess.run([*cli, "cancel", "--console", str(console)],
                                  capture_output=True, text=True, timeout=START)
            assert done.returncode == 0 and "NOT AUTHORISED" in done.stdout
            with pytest.raises(NotAuthorisedError):
                hsm.export_tmk_components(tmk.key_lmk)
        for bad in ("0", "٥", "721"):
            done = subprocess.run([*cli, "authorise", "--console", str(console), "--minutes",
                                   bad], capture_output=True, text=True, timeout=START)
            assert done.returncode == 2 and "Traceback" not in done.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=EVENT)
    assert proc.returncode == 0
    assert not console.exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_use_the_console(fresh: ServerThread) -> None:
    """Even with the socket opened up by mistake, the peer's user id is checked."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        path = Path(folder) / "console.sock"
        fresh.call(fresh.server.start_console(path))
        os.chmod(path, 0o666)
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # as user "nobody": connect and ask for the Authorised state
            try:
                os.setgid(65534)
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(EVENT)
                    sock.connect(str(path))
                    with contextlib.suppress(BrokenPipeError):  # it may have hung up first
                        sock.sendall(b"A 5\n")
                    os.write(write_end, sock.recv(100))
            except BaseException as exc:  # reported to the parent through the pipe
                os.write(write_end, repr(exc).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            reply = pipe.read()
        os.waitpid(child, 0)
        assert b"not the HSM's owner" in reply
        assert not fresh.server.state.active
        fresh.call(fresh.server.close())
