"""Real PostgreSQL servers for the tests: a primary, and a synchronous standby beside it.

Each cluster lives in a temporary directory: the data directories, their logs, the Unix sockets
and a password file. Servers come from Debian's `postgresql` package (the newest version under
/usr/lib/postgresql), run as the `postgres` user when the tests run as root (initdb and postgres
refuse root), listen on 127.0.0.1 only, on a free port, with `fsync=on` and
`synchronous_commit=on`.

Authentication (docs/deploy.md §Connection): `scram-sha-256` on TCP, as in production, so that the
tests see real passwords and can check none ever shows in an error; `trust` on the Unix socket,
whose directory only the server's owner (and root) may enter, for the harness's own queries.

Programs that must run as `postgres` are started with subprocess's `user=`/`group=` (setuid in
the child between fork and exec) rather than `runuser`: the postmaster then is a plain child of
tests/pg/reaper.py, with no PAM session or wrapper between them to absorb signals, so SIGKILL and
SIGINT reach it and its exit is seen. Every wait polls for an event (a connection succeeds, a
query returns the expected state) until a generous deadline; nothing sleeps a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.ports import free_port

PG_ROOT = Path("/usr/lib/postgresql")
REAPER = Path(__file__).with_name("reaper.py")
START_DEADLINE = 180.0  # seconds: initdb, startup and recovery on a loaded 2-core machine
STOP_DEADLINE = 120.0
APP_USER = "lps"
APP_DATABASE = "lps"
REPLICATION_USER = "replicator"
STANDBY_NAME = "standby1"

T = TypeVar("T")


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be run on this machine (not installed, or no `postgres` account)."""


class PostgresFailed(Exception):
    """A server did not reach the state a test waited for; the message carries its log's tail."""


@dataclass(frozen=True)
class PgInstall:
    """The binaries of one installed PostgreSQL major version."""

    version: int
    bindir: Path

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def find_install(root: Path = PG_ROOT) -> PgInstall:
    """The newest PostgreSQL under /usr/lib/postgresql/<version>/bin (Debian's layout)."""
    found = []
    if root.is_dir():
        for entry in root.iterdir():
            bindir = entry / "bin"
            if entry.name.isascii() and entry.name.isdecimal() and (bindir / "initdb").exists() \
                    and (bindir / "postgres").exists():
                found.append(PgInstall(int(entry.name), bindir))
    if not found:
        raise PostgresUnavailable(
            f"no PostgreSQL server under {root} (Debian: apt-get install postgresql)")
    return max(found, key=lambda install: install.version)


def server_account() -> str | None:
    """The account the servers run as: `postgres` when we are root, else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root but there is no `postgres` account") from None
    return "postgres"


def wait_for(probe: Callable[[], T | None], deadline: float, what: str,
             failed: Callable[[], str | None] = lambda: None) -> T:
    """Poll `probe` until it returns a value; `failed` names a reason to stop early."""
    interval = 0.02
    while True:
        value = probe()
        if value is not None:
            return value
        reason = failed()
        if reason is not None:
            raise PostgresFailed(f"{what}: {reason}")
        if time.monotonic() > deadline:
            raise PostgresFailed(f"{what}: not reached before the deadline")
        time.sleep(interval)
        interval = min(interval * 2, 0.25)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class PgNode:
    """One PostgreSQL server of a cluster: its data directory, port and process."""

    name: str
    install: PgInstall
    account: str | None
    base: Path
    port: int
    settings: dict[str, str]
    reaper: subprocess.Popen[bytes] | None = None
    server_pid: int | None = None
    _log: Any = None

    @property
    def datadir(self) -> Path:
        return self.base / self.name

    @property
    def log_path(self) -> Path:
        return self.base / f"{self.name}.log"

    def run_tool(self, *argv: str, env: dict[str, str] | None = None) -> None:
        """Run one of PostgreSQL's programs as the server's account; its output goes to the log."""
        with self.log_path.open("ab") as log:
            done = subprocess.run(
                list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})}, user=self.account, group=self._group(),
                extra_groups=[] if self.account else None, timeout=START_DEADLINE,
                check=False)
        if done.returncode != 0:
            raise PostgresFailed(f"{Path(argv[0]).name} for {self.name} exited "
                                 f"{done.returncode}:\n{_tail(self.log_path)}")

    def _group(self) -> int | None:
        return pwd.getpwnam(self.account).pw_gid if self.account else None

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and wait until it accepts connections; a taken port gets another."""
        for _attempt in range(5):
            self._spawn()
            try:
                self.wait_connectable()
                return
            except PostgresFailed:
                if self.running() or "could not bind" not in _tail(self.log_path, 40):
                    raise
            self.port = free_port()
        raise PostgresFailed(f"{self.name}: no free port after 5 attempts")

    def _spawn(self) -> None:
        options = {**self.settings, "port": str(self.port)}
        argv = [self.install.tool("postgres"), "-D", str(self.datadir)]
        for key, value in options.items():
            argv += ["-c", f"{key}={value}"]
        self._log = self.log_path.open("ab")
        self.reaper = subprocess.Popen(
            [sys.executable, str(REAPER), str(os.getpid()), self.account or "-", *argv],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
            start_new_session=True)
        assert self.reaper.stdout is not None
        line = self.reaper.stdout.readline()  # the reaper writes the server's pid at once
        try:
            self.server_pid = int(line)
        except ValueError:  # the reaper could not start the server: its log says why
            self.server_pid = None

    def running(self) -> bool:
        """Whether any process of this server is left (the reaper exits after the last one)."""
        return self.reaper is not None and self.reaper.poll() is None

    def _exited(self) -> str | None:
        if self.running():
            return None
        return f"{self.name} exited:\n{_tail(self.log_path)}"

    def wait_connectable(self) -> None:
        """Wait until a superuser session opens on the server's socket (hot standbys too)."""
        deadline = time.monotonic() + START_DEADLINE

        def probe() -> bool | None:
            try:
                with self.admin_connect(connect_timeout=5):
                    return True
            except psycopg.OperationalError:
                return None

        wait_for(probe, deadline, f"{self.name} accepting connections", self._exited)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then SIGKILL if it has not ended by the deadline."""
        if self.running() and self.server_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server_pid, signal.SIGINT)
            if self._wait_reaper(STOP_DEADLINE):
                return
        self.kill()

    def kill(self) -> None:
        """SIGKILL every process of the server, as when its machine dies.

        PostgreSQL's children call setsid(), so no process group holds them all: the postmaster
        goes first (it forks no more), then every process left under the reaper, which adopted
        them (tests/pg/reaper.py), until the reaper has reaped the last and exited.
        """
        if self.reaper is None:
            return
        if self.server_pid is not None and self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server_pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_DEADLINE

        def gone() -> bool | None:
            if not self.running():
                return True
            for pid in children_of(self.reaper.pid if self.reaper else 0, self.server_pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return None

        try:
            wait_for(gone, deadline, f"{self.name} gone after SIGKILL")
        finally:
            if self.running():
                self.reaper.kill()
                self.reaper.wait()
            self._close_log()

    def _wait_reaper(self, seconds: float) -> bool:
        assert self.reaper is not None
        try:
            self.reaper.wait(timeout=seconds)  # returns as soon as the last process is reaped
        except subprocess.TimeoutExpired:
            return False
        self._close_log()
        return True

    def _close_log(self) -> None:
        if self.reaper is not None and self.reaper.stdout is not None:
            self.reaper.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def pause(self) -> None:
        """SIGSTOP every process of the server: it keeps its sockets but answers nothing."""
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, signum: signal.Signals) -> None:
        if self.server_pid is None or not self.running():
            return
        for pid in [self.server_pid, *children_of(self.server_pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    # -- sessions --------------------------------------------------------------------------

    def admin_connect(self, *, dbname: str = "postgres", connect_timeout: int = 10,
                      autocommit: bool = True) -> psycopg.Connection[tuple[Any, ...]]:
        """The superuser over the Unix socket (trust: only the server's owner may reach it)."""
        return psycopg.connect(host=str(self.base), port=self.port, user="postgres",
                               dbname=dbname, connect_timeout=connect_timeout,
                               autocommit=autocommit)

    def query(self, statement: str, params: tuple[Any, ...] = (), *,
              dbname: str = "postgres") -> list[tuple[Any, ...]]:
        with self.admin_connect(dbname=dbname) as conn:
            return conn.execute(statement, params).fetchall()

    def in_recovery(self) -> bool:
        return bool(self.query("SELECT pg_is_in_recovery()")[0][0])


@dataclass
class PgCluster:
    """A primary, optionally with a synchronous standby, in one temporary directory."""

    install: PgInstall
    account: str | None
    base: Path
    passwords: dict[str, str]
    nodes: list[PgNode] = field(default_factory=list)

    @property
    def primary(self) -> PgNode:
        """The node that accepts writes: the first one, or the standby once it was promoted."""
        return self.nodes[0]

    @property
    def standby(self) -> PgNode:
        return self.nodes[1]

    def conninfo(self, *nodes: PgNode, user: str = APP_USER, dbname: str = APP_DATABASE,
                 **extra: str) -> str:
        """A libpq conninfo over TCP naming the given nodes in order (all of them by default)."""
        chosen = nodes or tuple(self.nodes)
        return make_conninfo(
            host=",".join("127.0.0.1" for _ in chosen),
            port=",".join(str(node.port) for node in chosen),
            user=user, password=self.passwords[user], dbname=dbname, **extra)

    def url(self, node: PgNode | None = None, *, user: str = APP_USER,
            dbname: str = APP_DATABASE) -> str:
        """A postgresql:// URL for one node over TCP, password included."""
        target = node or self.primary
        return (f"postgresql://{user}:{self.passwords[user]}@127.0.0.1:{target.port}/{dbname}")

    # -- building --------------------------------------------------------------------------

    def _node(self, name: str, settings: dict[str, str]) -> PgNode:
        common = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.base),
            "unix_socket_permissions": "0700",
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "shared_buffers": "32MB",
            "max_connections": "60",
            "password_encryption": "scram-sha-256",
            # in every process title (see leftovers), and a standby's application_name
            "cluster_name": self.node_tag(name),
            "wal_level": "replica",
            "max_wal_senders": "5",
            "max_replication_slots": "5",
            "hot_standby": "on",
            "log_min_messages": "warning",
            "log_connections": "off",
            # Segments as files in the data directory, removed with the cluster's temporary
            # directory: with `posix` (Linux's default) the segments of a server a test kills
            # stay in /dev/shm for good.
            "dynamic_shared_memory_type": "mmap",
        }
        return PgNode(name, self.install, self.account, self.base, free_port(),
                      {**common, **settings})

    def node_tag(self, name: str) -> str:
        return f"{self.base.name}-{name}"

    def _init_primary(self) -> PgNode:
        """initdb and start; --no-sync only skips flushing the fresh files (a server crash
        cannot lose what the page cache holds; only a power cut could), not the server's fsync."""
        node = self._node("primary", {})
        pwfile = self.base / "pwfile"
        self._write_private(pwfile, self.passwords["postgres"] + "\n")
        node.run_tool(self.install.tool("initdb"), "-D", str(node.datadir), "-U", "postgres",
                      f"--pwfile={pwfile}", "--auth-local=trust",
                      "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
                      "--data-checksums", "--no-instructions", "--no-sync")
        pwfile.unlink()
        (node.datadir / "pg_hba.conf").write_text(
            "# tests/pg/cluster.py: trust on the private socket, passwords on loopback TCP\n"
            "local all all trust\n"
            "local replication all trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host replication all 127.0.0.1/32 scram-sha-256\n")
        self.nodes.append(node)
        node.start()
        self._create_roles(node)
        return node

    def _create_roles(self, node: PgNode) -> None:
        with node.admin_connect() as conn:
            for role, attributes in ((APP_USER, "LOGIN"),
                                     (REPLICATION_USER, "LOGIN REPLICATION")):
                conn.execute(sql.SQL("CREATE ROLE {} " + attributes + " PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(self.passwords[role])))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(APP_DATABASE), sql.Identifier(APP_USER)))

    def _add_standby(self) -> PgNode:
        """pg_basebackup -R from the primary, with a replication slot, then start streaming."""
        primary = self.primary
        # after its promotion it has no standby of its own to wait for (docs/deploy.md §Failover)
        node = self._node(STANDBY_NAME, {"synchronous_standby_names": ""})
        passfile = self.base / "pgpass"
        self._write_private(passfile, f"127.0.0.1:*:*:{REPLICATION_USER}:"
                                      f"{self.passwords[REPLICATION_USER]}\n")
        node.run_tool(self.install.tool("pg_basebackup"), "-D", str(node.datadir),
                      "-h", "127.0.0.1", "-p", str(primary.port), "-U", REPLICATION_USER,
                      "-w", "-R", "-C", "-S", STANDBY_NAME, "-X", "stream",
                      "--checkpoint=fast", "--no-sync", env={"PGPASSFILE": str(passfile)})
        self.nodes.append(node)
        node.start()
        with primary.admin_connect() as conn:  # set only now: commits wait for this standby
            conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(
                sql.Literal(f'FIRST 1 ("{self.node_tag(STANDBY_NAME)}")')))
            conn.execute("SELECT pg_reload_conf()")
        return node

    def _write_private(self, path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(0o600)
        if self.account:
            account = pwd.getpwnam(self.account)
            os.chown(path, account.pw_uid, account.pw_gid)

    # -- replication and failover ----------------------------------------------------------

    def replication_state(self) -> list[tuple[str, str, str]]:
        """(application_name, state, sync_state) of every standby connected to the primary."""
        rows = self.primary.query(
            "SELECT application_name, state, sync_state FROM pg_stat_replication")
        return [(str(name), str(state), str(sync)) for name, state, sync in rows]

    def wait_synchronous(self) -> None:
        """Wait until the standby streams and the primary counts it as synchronous."""
        wanted = (self.node_tag(STANDBY_NAME), "streaming", "sync")
        wait_for(lambda: True if wanted in self.replication_state() else None,
                 time.monotonic() + START_DEADLINE, "standby streaming and synchronous",
                 self.primary._exited)

    def kill_primary(self) -> PgNode:
        """SIGKILL every process of the primary; returns the dead node."""
        dead = self.primary
        dead.kill()
        return dead

    def promote(self, node: PgNode) -> float:
        """`pg_ctl promote` the standby, wait until it accepts writes; seconds that took.

        pg_ctl stands in for whatever promotes the standby in production (Patroni,
        docs/deploy.md §Failover). The node becomes `primary` of this cluster.
        """
        began = time.monotonic()
        node.run_tool(self.install.tool("pg_ctl"), "promote", "-D", str(node.datadir), "-W")
        self.wait_writable(node)
        self.nodes.remove(node)
        self.nodes.insert(0, node)
        return time.monotonic() - began

    def wait_writable(self, node: PgNode) -> None:
        """Wait until a transaction that takes a transaction id commits on `node`."""

        def probe() -> bool | None:
            try:
                with node.admin_connect(connect_timeout=5) as conn:
                    conn.execute("SET statement_timeout = '10s'")
                    conn.execute("SELECT pg_current_xact_id()")  # refused during recovery
                    return True
            except psycopg.Error:
                return None

        wait_for(probe, time.monotonic() + START_DEADLINE, f"{node.name} accepting writes",
                 node._exited)

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every server and remove the directory, whatever state they are in."""
        errors: list[Exception] = []
        for node in self.nodes:
            node.resume()  # a paused server cannot shut down, nor can a primary that waits on it
        for node in reversed(self.nodes):  # standbys first: a primary's shutdown waits for them
            try:
                node.stop()
            except Exception as exc:  # the other servers are stopped all the same
                errors.append(exc)
                with contextlib.suppress(Exception):
                    node.kill()
        shutil.rmtree(self.base, ignore_errors=True)
        if errors:
            raise errors[0]


def _proc_entries() -> Iterator[Path]:
    for entry in Path("/proc").iterdir():
        if entry.name.isascii() and entry.name.isdecimal():
            yield entry


def children_of(*parents: int | None) -> list[int]:
    """Every live process whose parent is one of `parents`, from /proc."""
    wanted = {pid for pid in parents if pid}
    found = []
    for entry in _proc_entries():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # after "pid (comm) state"
            if ppid in wanted:
                found.append(int(entry.name))
    return found


def processes_tagged(tag: str) -> list[str]:
    """Every process whose command line (or process title) mentions `tag`."""
    found = []
    for entry in _proc_entries():
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            if tag in cmdline:
                found.append(f"{entry.name}: {cmdline.strip()[:120]}")
    return found


def leftovers(cluster: PgCluster) -> list[str]:
    """What is left of a closed cluster: its processes and its directory.

    Every process of a cluster names it: the reaper and the postmaster by their data
    directory, each child by the `cluster_name` in its title (`postgres: lps-pg-…-primary: …`).
    """
    left = processes_tagged(cluster.base.name)
    if cluster.base.exists():
        left.append(f"directory {cluster.base}")
    return left


@contextlib.contextmanager
def pg_cluster(*, standby: bool = False, install: PgInstall | None = None) -> Iterator[PgCluster]:
    """A running primary (and a synchronous, streaming standby when `standby`), removed after.

    Raises PostgresUnavailable when the machine cannot run PostgreSQL at all.
    """
    found = install or find_install()
    account = server_account()
    base = Path(tempfile.mkdtemp(prefix="lps-pg-"))  # short: socket paths have 107 bytes
    if account:
        entry = pwd.getpwnam(account)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    passwords = {user: secrets.token_urlsafe(18)
                 for user in ("postgres", APP_USER, REPLICATION_USER)}
    cluster = PgCluster(found, account, base, passwords)
    try:
        cluster._init_primary()
        if standby:
            cluster._add_standby()
            cluster.wait_synchronous()
        yield cluster
    finally:
        cluster.close()
