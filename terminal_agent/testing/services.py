"""pcscd with the vpcd driver, for the virtual card: found running, or started and stopped.

Shared by `make demo` (which skips its agent step with the reason) and the test suite (which
fails under CI=true and skips otherwise): one place knows how Debian lays pcscd and vpcd out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from terminal_agent.testing.vicc import MACHINE_DIR, VPCD_LOCK, VPCD_PORTS, VPCD_READERS

VPCD_CONF = Path("/etc/reader.conf.d/vpcd")  # installed by Debian's vsmartcard-vpcd
# How long pcscd may take to come up (or go) before we call it broken: it is normally ready in
# well under a second, and a generous deadline only matters on a loaded machine.
PCSCD_READY_SECONDS = 60.0
# How long vpcd's ports may stay held by other sockets: a closed connection keeps its port in
# TIME_WAIT for 60 s (Linux's TCP_TIMEWAIT_LEN), and the test that held it may end late.
PORTS_FREE_SECONDS = PCSCD_READY_SECONDS + 60.0
# pcscd is shared by every test session and demo on the machine (pcscd_with_vpcd)
PCSCD_LOCK = MACHINE_DIR / "lps-pcscd.lock"
PCSCD_USERS = MACHINE_DIR / "lps-pcscd.users"
PCSCD_PID = MACHINE_DIR / "lps-pcscd.pid"
_STARTED: dict[int, subprocess.Popen[bytes]] = {}  # the pcscd this process started, by pid
RESERVED_PORTS = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")
LISTEN = "0A"  # a socket state in /proc/net/tcp


class ServiceUnavailable(Exception):
    """pcscd/vpcd cannot be had on this machine now; the message says why."""


def _sockets_on(port: int) -> list[tuple[str, str]]:
    """(state, inode) of every TCP socket whose local port is `port`, read from /proc (a
    probe connection would insert a card into vpcd's slot)."""
    needle = f":{port:04X} "
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in fh.readlines()[1:]:
                cols = line.split()
                if len(cols) > 9 and (cols[1] + " ").endswith(needle):
                    found.append((cols[3], cols[9]))
    return found


def port_user(port: int) -> str:
    """Who holds vpcd's `port`: "free", "pcscd" (it listens there) or "other".

    Any socket bound to the port makes vpcd's own bind fail, and pcscd then runs without that
    reader: a test's outgoing connection that the kernel gave this port, and that connection
    in TIME_WAIT for a minute after it closed. Without root the owner of a listener cannot be
    read, and a listener is taken to be pcscd's."""
    sockets = _sockets_on(port)
    if not sockets:
        return "free"
    listeners = {inode for state, inode in sockets if state == LISTEN}
    if not listeners:
        return "other"
    owners = _pcscd_socket_inodes()
    if owners is None or listeners & owners:
        return "pcscd"
    return "other"


def _pcscd_socket_inodes() -> set[str] | None:
    """The inodes of every socket a pcscd process holds; None when they cannot be read."""
    inodes: set[str] = set()
    for pid in (int(d) for d in os.listdir("/proc") if d.isascii() and d.isdigit()):
        if not _is_pcscd(pid):
            continue
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except PermissionError:
            return None
        except OSError:
            continue  # it exited meanwhile
        inodes.update(link[8:-1] for link in links if link.startswith("socket:["))
    return inodes


def reserve_ports(ports: tuple[int, ...]) -> None:
    """Keep the kernel from handing `ports` to any socket that asks it for a free one
    (net.ipv4.ip_local_reserved_ports), so that no test's server or connection takes vpcd's
    ports from pcscd. Needs root; without it, or where the setting is read-only, the ports are
    left as they are and `port_user` still tells when something else holds them."""
    with contextlib.suppress(OSError):
        current = RESERVED_PORTS.read_text().strip()
        missing = [str(p) for p in ports if not _within(p, current)]
        if missing:
            RESERVED_PORTS.write_text(",".join(filter(None, [current, *missing])) + "\n")


def _within(port: int, ranges: str) -> bool:
    """`port` is in a list of ports and ranges as the kernel writes it ("80,1000-1010")."""
    for part in filter(None, ranges.split(",")):
        low, _, high = part.partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:g} s")
        time.sleep(0.05)


@contextlib.contextmanager
def pcscd_with_vpcd() -> Iterator[str]:
    """pcscd serving vpcd's readers: the running one, or one we start.

    pcscd belongs to the whole machine, and test sessions and demos on it overlap: whoever
    uses it holds PCSCD_USERS shared meanwhile, and the last one to leave stops the pcscd that
    one of them started (its pid is in PCSCD_PID). A pcscd found running otherwise is never
    stopped. PCSCD_LOCK makes looking, starting, joining and leaving one step each.
    """
    with _lock_file(PCSCD_LOCK) as step, _lock_file(PCSCD_USERS) as users:
        fcntl.flock(step, fcntl.LOCK_EX)
        try:
            how = _running_or_started()
            fcntl.flock(users, fcntl.LOCK_SH)
        finally:
            fcntl.flock(step, fcntl.LOCK_UN)
        try:
            yield how
        finally:
            fcntl.flock(step, fcntl.LOCK_EX)
            try:
                fcntl.flock(users, fcntl.LOCK_UN)
                _stop_if_last(users)
            finally:
                fcntl.flock(step, fcntl.LOCK_UN)


def serving_again() -> str:
    """Inside pcscd_with_vpcd: pcscd serving vpcd's readers, started again when the one we
    joined is gone. A user that does not take part in PCSCD_USERS (an older checkout, a person
    at the shell) may stop the pcscd it started while we still use it; the one started here is
    stopped by the last user, like any other."""
    with _lock_file(PCSCD_LOCK) as step:
        fcntl.flock(step, fcntl.LOCK_EX)
        try:
            return _running_or_started()
        finally:
            fcntl.flock(step, fcntl.LOCK_UN)


def _lock_file(path: Path) -> IO[bytes]:
    """A file to flock; read-only, so that a lock file root made serves every user."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_CREAT, 0o644), "rb")


def _running_or_started() -> str:
    """Called holding PCSCD_LOCK: how pcscd came to serve vpcd, or ServiceUnavailable."""
    reserve_ports(VPCD_PORTS)
    if port_user(VPCD_PORTS[0]) == "pcscd":
        return "pcscd already running"
    exe = shutil.which("pcscd") or next(
        (p for p in ("/usr/sbin/pcscd",) if os.path.exists(p)), None)
    if exe is None:
        raise ServiceUnavailable("pcscd is not installed (Debian: pcscd)")
    if not VPCD_CONF.exists():
        raise ServiceUnavailable("the vpcd driver is not installed (Debian: vsmartcard-vpcd)")
    if os.geteuid() != 0:
        raise ServiceUnavailable("pcscd is not running and starting it needs root")
    try:
        wait_until(_vpcd_ports_usable, PORTS_FREE_SECONDS, "vpcd's ports")
    except TimeoutError:
        users = ", ".join(f"{p}: {port_user(p)}" for p in VPCD_PORTS)
        raise ServiceUnavailable(f"vpcd's ports are held by another program ({users})") \
            from None
    if port_user(VPCD_PORTS[0]) == "pcscd":
        return "pcscd already running"  # started meanwhile by someone outside PCSCD_LOCK
    # its own session: a signal to the group of whoever started it must not reach it
    proc = subprocess.Popen([exe, "--foreground"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    _STARTED[proc.pid] = proc
    try:
        wait_until(lambda: port_user(VPCD_PORTS[0]) == "pcscd" or proc.poll() is not None,
                   PCSCD_READY_SECONDS, "pcscd vpcd")
        if proc.poll() is not None:
            raise ServiceUnavailable(f"pcscd exited with {proc.returncode}")
        wait_until(vpcd_reader_listed, PCSCD_READY_SECONDS, "the vpcd reader")
    except BaseException:
        _stop(proc.pid)
        raise
    PCSCD_PID.write_text(f"{proc.pid}\n")
    return f"pcscd started (pid {proc.pid}), stopped again when its last user is done"


def _vpcd_ports_usable() -> bool:
    """pcscd serves vpcd's first port, or every port is free for the pcscd we start. A port
    that some other socket holds frees itself when that socket's test ends (they are reserved
    from then on, see `reserve_ports`)."""
    users = [port_user(p) for p in VPCD_PORTS]
    return users[0] == "pcscd" or all(u == "free" for u in users)


def vpcd_reader_listed() -> bool:
    """pcscd lists vpcd's first reader. pcscd opens vpcd's ports before its own client socket
    (`strace -e trace=bind pcscd --foreground` shows the order), so a client that finds the
    port listening may still find no PC/SC service for a moment: that is "not yet", and the
    caller's deadline decides when it is broken."""
    from terminal_agent.card.pcsc import PcscUnavailable, list_readers

    try:
        return VPCD_READERS[0] in list_readers()
    except PcscUnavailable:
        return False


def _stop_if_last(users: IO[bytes]) -> None:
    """Called holding PCSCD_LOCK, after leaving PCSCD_USERS: stop the pcscd a user started
    when no other user is left."""
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another session or demo still uses it
    try:
        pid = int(PCSCD_PID.read_text().strip() or 0) if PCSCD_PID.exists() else 0
        if pid and _is_pcscd(pid):
            _stop(pid)
        PCSCD_PID.unlink(missing_ok=True)
    finally:
        fcntl.flock(users, fcntl.LOCK_UN)


def _is_pcscd(pid: int) -> bool:
    """Process `pid` runs pcscd (its program, not an argument that names it)."""
    try:
        program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return os.path.basename(program) == b"pcscd"


def _stop(pid: int) -> None:
    """SIGTERM, then SIGKILL; reaped here when this process started it (else by init)."""
    proc = _STARTED.pop(pid, None)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        if proc is not None:
            proc.wait(PCSCD_READY_SECONDS)
        else:
            wait_until(lambda: not _is_pcscd(pid), PCSCD_READY_SECONDS, f"pcscd {pid} to stop")
    except (subprocess.TimeoutExpired, TimeoutError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if proc is not None:
            proc.wait()


@contextlib.contextmanager
def vpcd_slots(timeout: float) -> Iterator[None]:
    """The machine's vpcd slots: two sessions at once would insert cards into each other's
    readers, so whoever uses them holds this lock."""
    with open(VPCD_LOCK, "w") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"the vpcd slots are in use ({VPCD_LOCK} held)") from None
                time.sleep(0.1)
        try:
            # The last holder's cards may still be there for PC/SC (slot_empty).
            for reader in VPCD_READERS:
                wait_slot_empty(reader)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def slot_empty(reader: str) -> bool:
    """PC/SC sees no card in `reader`: none to talk to with no PC/SC service either.

    vpcd notices that a virtual card left only at pcscd's next presence poll (some 0.4 s).
    Until then PC/SC reports the card that left as present, and a card put in meanwhile waits
    unseen while its reads go to the one that left and fail (`SCARD_E_NOT_TRANSACTED`). So a
    card is put into a slot only once this is true."""
    from terminal_agent.card.pcsc import PcscUnavailable, card_present

    try:
        return not card_present(reader)
    except PcscUnavailable:
        return True


def wait_slot_empty(reader: str) -> None:
    """`slot_empty`, or ServiceUnavailable: a card that stays (someone else's) is not ours."""
    try:
        wait_until(lambda: slot_empty(reader), PCSCD_READY_SECONDS, f"{reader} empty")
    except TimeoutError:
        raise ServiceUnavailable(f"a card stays in {reader}: the vpcd slot is not free") \
            from None
