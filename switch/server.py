"""The imperative shell: asyncio listeners, the journal writer, admin socket, shutdown.

The path of one request is in switch/connection.py (`Connection.on_frame`); the group commit
in switch/writer.py. `Switch` holds them together: it recovers the state from the journal,
opens the listeners, runs the writer and the housekeeping tasks, takes operator commands on
its admin socket (decided and applied like requests, in order with them), reloads its programs
(`lps programs reload`, SIGHUP: switch/reload.py) and stops, gracefully or on a commit error
(fail-stop: nothing further is answered; a restart recovers).

One module, past 400 lines, on purpose: start, the operator's commands and stop share the
switch's tasks and state, and their order (recover, listen, stop taking, drain, close) is what
makes a stop graceful; each step's work is in the modules it calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import functools
import gc
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from iso8583 import load_profile
from switch import unix_socket
from switch.admin_requests import ADMIN_LINE_LIMIT, AdminRequestError, admin_command
from switch.config import Config, HostPort
from switch.connection import Connection, drop_self_references
from switch.core import Decision, Entry, apply, journaled, prune
from switch.core.admin import AdminError, decide_adjust, decide_card_command, decide_profile
from switch.core.card_replace import Replacement, apply_replacement, decide_replace
from switch.core.card_store import reading_lots
from switch.core.coupon import decide_void
from switch.core.luhn import redact
from switch.core.program_change import decide_programs
from switch.core.programs.club import Profile
from switch.core.programs.rules import program_rules
from switch.core.purse_credit import decide_purse_credit
from switch.core.rewards import CouponFacts, CouponNeed
from switch.core.rules import RuleBook
from switch.journal import JournalError, SharedJournal, open_journal, open_reader
from switch.metrics import Metrics
from switch.pgconn import SessionStats
from switch.reload import ReloadRefused, read_new_programs, record_at_start
from switch.security import (
    SECURITY_COMMANDS,
    Security,
    event_counter,
    open_security,
    server_context,
)
from switch.security.admin import decide_security_command
from switch.thread_priority import lower_this_thread
from switch.writer import Nodes, Outgoing, ReceiptsOf, SwitchStopped, Writer, kv

__all__ = ["Switch", "admin_socket_path", "database_in_use", "install_event_loop", "kv",
           "read_coupon", "release_lock", "serve", "take_lock", "tune_gc", "untune_gc"]

log = logging.getLogger("lps.switch")


class Switch:
    """A running switch: state recovered from the journal, listeners, writer, admin socket."""

    def __init__(self, config: Config, rules: RuleBook | None = None) -> None:
        self.config = config
        # The configured programs are the switch's rules unless a caller passes others.
        self.rules: RuleBook = rules if rules is not None else program_rules(config)
        self.loop = asyncio.get_running_loop()
        self.connections: set[Connection] = set()
        self.paused: set[Connection] = set()
        self.unflushed: list[Connection] = []  # connections with answers released, not written
        self.inflight = 0
        self.stopping = False
        self.failure: str | None = None
        self.stopped = asyncio.Event()
        self.servers: dict[str, asyncio.Server] = {}
        self.addresses: dict[str, HostPort] = {}
        self.metrics = Metrics()
        self._lock_fd: int | None = None
        self._gc_thresholds = gc.get_threshold()
        self._tasks: list[asyncio.Task[None]] = []
        #: The SHA-256 of the programs in force (switch/config/versions.py).
        self.program_digest = ""

    @property
    def database(self) -> Path:
        return self.config.switch.database

    async def _recover(self, lock_fd: int, started: float) -> None:
        """The state from the journal, the commit process ready and the HSM's keys checked:
        what must hold before anything listens (`lock_fd`: the switch's lock)."""
        self.journal.claim_serving()
        # The lock goes with the commit process: no other switch opens the database while a
        # commit of this one may still land (docs/switch.md, "The commit process").
        self.journal.start_commit_process(keep_fds=(lock_fd,))
        self.state = self.journal.load(self.config, self.rules, dt.datetime.now(dt.UTC),
                                       lazy=True)
        version = record_at_start(self.journal, self.config, self.state)
        self.program_digest = version.digest
        rep = self.journal.report
        # No count of lots: they stay in the journal until a decision reads them.
        log.info(kv("recovered", database=self.database, cards=rep.cards,
                    transactions=rep.transactions, journal=rep.journal_entries,
                    programs=version.version, seconds=f"{time.perf_counter() - started:.3f}"))
        self.metrics.bind_cache(lambda: len(self.state.cards))
        database_stats = getattr(self.journal, "stats", None)
        if isinstance(database_stats, SessionStats):  # PgJournal: reconnects, unknown commits
            self.metrics.bind_database(database_stats)
        # A commit process that never opened the database refuses the start, not the first
        # request (docs/switch.md, "The commit process").
        self.journal.wait_for_commit_process()
        security = open_security(self.config, self.journal.security_rows(),
                                 event_counter(self.metrics.registry))
        try:
            await security.check_lmk(self.journal.stored_tmk(), self.config.path)
        except BaseException:
            await security.close()
            raise
        self.security: Security = security

    async def start(self) -> None:
        cfg = self.config.switch
        # TLS files are checked before anything is opened: a bad path is a ConfigError (exit 2).
        contexts = {name: server_context(tls, self.config.path, name)
                    for name, tls in cfg.tls.items()}
        self._lock_fd = lock_fd = take_lock(self.database)
        started = time.perf_counter()
        try:
            self.journal = open_journal(self.config.switch.journal, shared=cfg.shared)
        except BaseException:
            release_lock(lock_fd)
            raise
        try:
            await self._recover(lock_fd, started)
        except BaseException:  # nothing listens yet: leave no child, no lock, no connection
            self.journal.close()
            release_lock(lock_fd)
            raise
        self._gc_thresholds = tune_gc()
        self.metrics.watch_gc()
        self.writer = Writer(self.journal, self.metrics, cfg.limits.max_batch, self.fail,
                             self.committed, self._nodes(), self._receipts(), gc.freeze)
        self._tasks.append(asyncio.create_task(self.writer.run(), name="lps-writer"))
        self._tasks.append(asyncio.create_task(self._sweeper(), name="lps-sweeper"))
        self.journal.checkpoint_in_background()
        self._tasks.append(asyncio.create_task(self._checkpointer(), name="lps-checkpoint"))
        for name, addr in (("ascii", cfg.listen_ascii), ("bcd", cfg.listen_bcd)):
            if addr is None:
                continue
            profile = load_profile(name)
            tls = contexts.get(name)
            server = await self.loop.create_server(
                functools.partial(Connection, self, profile, name),
                addr.host, addr.port, reuse_address=True, backlog=2048, ssl=tls,
            )
            self.servers[name] = server
            sock = server.sockets[0].getsockname()
            self.addresses[name] = HostPort(sock[0], sock[1])
            log.info(kv("listening", profile=name, address=self.addresses[name],
                        tls="on" if tls else "off"))
        admin = admin_socket_path(self.database)
        with contextlib.suppress(FileNotFoundError):
            admin.unlink()
        self.servers["admin"] = await asyncio.start_unix_server(
            self._admin, sock=unix_socket.bound(admin), limit=ADMIN_LINE_LIMIT)
        if cfg.metrics is not None:
            self.addresses["metrics"] = self.metrics.serve(cfg.metrics)
            log.info(kv("metrics", address=self.addresses["metrics"]))

    def _receipts(self) -> ReceiptsOf | None:
        """The receipt SMS hook when a store sends them (docs/messaging.md, "Receipts")."""
        if not self.config.receipts:
            return None
        # Imported when a store sends receipts: a switch without them does not load messaging.
        from switch.messaging.receipts import Receipts

        return Receipts(self.config.receipts, lambda: self.state, self.config.switch.zone)

    def _nodes(self) -> Nodes | None:
        """How this node takes turns with the others on one journal, when it is one of
        several (`[switch] nodes = "shared"`, docs/switch.md "Several nodes")."""
        if not self.config.switch.shared:
            return None
        journal = self.journal
        assert isinstance(journal, SharedJournal)

        async def refresh(upto: int | None) -> None:
            # A state that holds the journal up to `upto` and nothing uncommitted keeps its
            # remembered requests; any other is read whole.
            carry = (self.state, upto) if upto is not None and not self.state.uncommitted \
                else None
            self.state = await asyncio.to_thread(journal.refresh, self.config, self.rules,
                                                 dt.datetime.now(dt.UTC), carry)

        return Nodes(journal, refresh)

    async def reload_programs(self) -> dict[str, Any]:
        """`lps programs reload` and SIGHUP: the file's programs as the next version, taking
        effect between two decisions, or the reason they are refused (nothing changed)."""
        if self.writer.shared:
            # The other nodes would go on deciding with their programs under the journal's
            # new version (docs/switch.md, "Several nodes").
            reason = ("programs are not reloaded on a node of several: stop every node, "
                      "change the file on each, start them again")
            log.warning(kv("reload_refused", version=self.state.program_version,
                           reason=reason))
            return {"ok": False, "error": reason}
        await self.in_order()
        try:
            new = read_new_programs(self.config, self.program_digest)
        except ReloadRefused as exc:
            log.warning(kv("reload_refused", version=self.state.program_version, reason=exc))
            return {"ok": False, "error": str(exc)}
        rules = program_rules(new.config)
        await self.in_order()  # the check above read a file: decide against a settled state
        await self._apply_and_commit(lambda: decide_programs(
            self.state, new.config, rules, new.digest, self.config.path, new.document,
            dt.datetime.now(dt.UTC)))
        self.config, self.rules, self.program_digest = new.config, rules, new.digest
        log.info(kv("programs_reloaded", version=self.state.program_version,
                    digest=new.digest[:12]))
        return {"ok": True, "version": self.state.program_version}

    async def _apply_and_commit(self, make: Callable[[], Decision | Replacement]) -> None:
        """Decide an operator's command (`make`, which may raise `AdminError`), apply it and
        wait until its entries are committed (a card replacement's two rows in one commit); a
        node of several decides it in its turn."""
        if not self.writer.shared:
            decision = make()
            self._apply_command(decision)
            if decision.entries:
                done = asyncio.Event()
                self.writer.submit(decision.entries, Outgoing(None, committed=done))
                await done.wait()
            return
        decided: asyncio.Future[None] = self.loop.create_future()
        done = asyncio.Event()

        async def in_turn() -> tuple[list[Entry], Outgoing] | None:
            # Run again (with a fresh state) when the turn did not commit: `decided` is
            # settled once, by the first run.
            try:
                decision = make()
            except AdminError as exc:
                if not decided.done():
                    decided.set_exception(exc)
                return None
            try:
                self._apply_command(decision)
            except SwitchStopped as exc:
                if not decided.done():
                    decided.set_exception(exc)
                raise
            if not decided.done():
                decided.set_result(None)
            return decision.entries, Outgoing(None, committed=done)

        self.writer.defer(in_turn)
        await decided
        await done.wait()

    def _apply_command(self, decision: Decision | Replacement) -> None:
        try:
            if isinstance(decision, Replacement):
                apply_replacement(self.state, decision)
            else:
                apply(self.state, decision)
        except AssertionError as exc:
            self.fail(f"invariant broken applying a command: {redact(str(exc))}")
            raise SwitchStopped(self.failure or "") from None

    def committed(self, entries: list[Entry], outs: list[Outgoing]) -> None:
        """A batch is durable: decisions read its entries from the journal from now on, and
        its replies go out, one write per connection."""
        journaled(self.state, entries)
        for out in outs:
            if out.conn is not None:
                out.conn.release(out)
            elif out.committed is not None:
                out.committed.set()
        conns, self.unflushed = self.unflushed, []
        for conn in conns:
            conn.flush()

    def resume_paused(self) -> None:
        """Resume the connections paused for the global in-flight limit once under it."""
        if self.paused and self.inflight < self.config.switch.limits.max_inflight:
            for conn in list(self.paused):
                conn.update_reading()

    async def in_order(self) -> None:
        """Wait until no request is between its decision and its `apply` (a TCP HSM's MAC
        may be awaited there): what runs next, synchronously, sees a settled state."""
        while self.security.sequencer.busy:
            await self.security.sequencer.drain()

    def fail(self, reason: str) -> None:
        self.failure = reason
        log.critical(kv("fail_stop", reason=reason,
                        action="stopped taking work; restart recovers from the journal"))
        for conn in list(self.connections):
            conn.close()
        self.stopped.set()

    async def _sweeper(self) -> None:
        """Close idle connections; freeze the young objects each second (`tune_gc`); forget
        transactions past the idempotency window hourly."""
        limits = self.config.switch.limits
        last_prune = last_freeze = time.monotonic()
        while not self.stopping:
            await asyncio.sleep(min(FREEZE_EVERY, limits.idle_timeout / 2))
            if time.monotonic() - last_freeze >= FREEZE_EVERY:
                last_freeze = time.monotonic()
                gc.freeze()  # O(1); gc.get_freeze_count() is not: it walks every frozen object
            now = self.loop.time()
            for conn in list(self.connections):
                if conn.inflight == 0 and now - conn.last_seen > limits.idle_timeout:
                    log.info(kv("idle_timeout", peer=conn.peer))
                    conn.close()
            if time.monotonic() - last_prune > 3600:
                last_prune = time.monotonic()
                await self.in_order()
                if self.writer.shared:  # in a turn: a refresh may be taking the memory over
                    with contextlib.suppress(SwitchStopped):
                        self.writer.defer(self._prune_in_turn)
                else:
                    prune(self.state, dt.datetime.now(dt.UTC))

    async def _prune_in_turn(self) -> None:
        prune(self.state, dt.datetime.now(dt.UTC))

    async def _checkpointer(self) -> None:
        """WAL checkpoints each second, and the verified checkpoint's tail ten times a second,
        in their own thread, never inside a group commit.

        Measured: SQLite's automatic checkpoint (every ~4 MB of WAL) stalled the batch whose
        COMMIT triggered it; see docs/switch.md. The verified checkpoint's advance rides in the
        writer's next transaction at about 2 µs per journal row: advancing ten times a second
        keeps that to a fraction of a millisecond per batch instead of a few milliseconds in
        one batch each second (which showed in the open-loop p99).

        The thread runs at a lower priority (`thread_priority`): its work can wait a few
        milliseconds, the loop's and the commit process's cannot.

        Its timer doubles as the loop's lag probe (`lps_loop_lag_seconds`): how late it fires
        is how long something else held the loop.
        """
        executor = ThreadPoolExecutor(1, thread_name_prefix="lps-checkpoint",
                                      initializer=lower_this_thread)
        ticks = 0
        wal = self.metrics.checkpoint_seconds.labels(work="wal")
        verify = self.metrics.checkpoint_seconds.labels(work="verify")
        try:
            while not self.stopping and self.failure is None:
                due = self.loop.time() + VERIFY_EVERY
                await asyncio.sleep(VERIFY_EVERY)
                self.metrics.loop_lag.observe(max(0.0, self.loop.time() - due))
                ticks += 1
                on_wal = ticks % WAL_CHECKPOINT_TICKS == 0
                started = time.perf_counter()
                try:
                    if on_wal:
                        _, frames, _ = await self.loop.run_in_executor(
                            executor, self.journal.checkpoint)
                        self.metrics.wal_frames.set(frames)
                    else:
                        await self.loop.run_in_executor(executor, self.journal.verify_tail)
                except JournalError as exc:  # the WAL only grows; commits stay durable
                    log.warning(kv("checkpoint_failed", error=exc))
                (wal if on_wal else verify).observe(time.perf_counter() - started)
        finally:
            executor.shutdown(wait=True)

    async def _admin(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Operator commands while the switch runs (one JSON request per line): decided and
        applied like requests, in order with them, answered once committed."""
        try:
            req = admin_command(await self._admin_line(reader))
            if req["cmd"] == "reload":
                reply = await self.reload_programs()
            else:
                reply = await self._admin_command(req)
        except (ValueError, KeyError, TypeError, SwitchStopped) as exc:
            reply = {"ok": False, "error": f"bad admin request: {redact(str(exc))}"}
        writer.write(json.dumps(reply).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        drop_self_references(writer.transport)  # lost now, as in `Connection.connection_lost`

    @staticmethod
    async def _admin_line(reader: asyncio.StreamReader) -> bytes:
        """The request's one line (`AdminRequestError` past the reader's limit)."""
        try:
            return await reader.readline()
        except ValueError:  # the line ran past the stream's limit (`StreamReader.readline`)
            raise AdminRequestError(f"the line is longer than {ADMIN_LINE_LIMIT:,} bytes"
                                    ) from None

    async def _admin_command(self, req: dict[str, Any]) -> dict[str, Any]:
        await self.in_order()

        def decision() -> Decision | Replacement:
            now = dt.datetime.now(dt.UTC)
            return reading_lots(lambda: self._admin_decision(req, now),
                                functools.partial(self.journal.fill, self.state))

        try:
            await self._apply_and_commit(decision)
        except AdminError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True}

    def _admin_decision(self, req: dict[str, Any], now: dt.datetime
                        ) -> Decision | Replacement:
        cmd = req.get("cmd")
        if cmd == "coupon_void":
            digest = req["digest"]
            found = read_coupon(self.config.switch.journal, digest)
            return decide_void(self.state, CouponNeed(digest), found, now, str(req.get("by", "")))
        if cmd == "profile":
            return decide_profile(self.state, req["pan"], self._read_profile(req["pan"]))
        if cmd in SECURITY_COMMANDS:
            return decide_security_command(self.state, req, now)
        if cmd == "replace":
            return decide_replace(self.state, req["pan"], req["new"], req["reason"],
                                  req.get("by", ""), now)
        if cmd == "adjust":
            return decide_adjust(self.state, req["pan"], req["points"], req["store"],
                                 req["reason"], req.get("by", ""), now)
        if cmd == "purse_credit":
            return decide_purse_credit(self.state, req["pan"], req["amount"], req["store"],
                                       req["reason"], req.get("by", ""), now)
        return decide_card_command(self.state, req["cmd"], req["pan"], now,
                                   req.get("coalition"))

    def _read_profile(self, pan: str) -> Profile | None:
        """One card's customer profile (its account's), just written by `lps customers` or
        `lps cards enroll` (None: the card has no account, or an erased one).

        The profile row is committed by the CLI before it asks; reading it on a short-lived
        reader keeps the writer's connection to the writer thread.
        """
        reader = open_reader(self.config.switch.journal)
        try:
            return reader.profile(pan)
        finally:
            reader.close()

    async def stop(self) -> None:
        """Graceful: stop accepting, finish and commit what is in flight, then close."""
        if self.stopping:
            return
        self.stopping = True
        for server in self.servers.values():
            server.close()
        for conn in list(self.connections):
            if conn.transport is not None and not conn.paused:
                conn.transport.pause_reading()
        await self.security.sequencer.drain()  # requests still waiting for the HSM
        await self.writer.drain()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.writer.close()
        await self.security.close()
        self.journal.close()
        self.metrics.unwatch_gc()
        self.metrics.shutdown()
        untune_gc(self._gc_thresholds)
        with contextlib.suppress(FileNotFoundError):
            admin_socket_path(self.database).unlink()
        release_lock(self._lock_fd)
        self.stopped.set()
        log.info(kv("stopped", commits=self.writer.commits))


#: How often the rows committed since the verified checkpoint are verified (`verify_tail`),
#: and every how many of those ticks the WAL is checkpointed into the database file.
VERIFY_EVERY = 0.1
WAL_CHECKPOINT_TICKS = 10

#: How often the sweeper moves the objects that survived into the permanent generation.
FREEZE_EVERY = 1.0


def tune_gc() -> tuple[int, int, int]:
    """Keep the cyclic GC from rescanning the cache: it stalled the event loop for ~40 ms.

    The cache is millions of long-lived objects and each request leaves a few more (the lots
    it made or moved; its remembered record is an untracked int). Measured: the collector
    doubled the cost of a decision (34 -> 63 µs) once the cache grew, and a young-generation
    collection over 50,000 survivors stopped the loop for 37-45 ms every ~3 s at 2,000
    requests/s, which set the open-loop p99 (25-50 ms).
    So: everything alive at start is frozen (never scanned again), the writer freezes the young
    objects at every request it takes (`Writer.freeze`: what a request leaves waits for its
    commit, alive, and young collections over it found nothing to free while taking 3-4 % of
    the loop in the closed loop), the sweeper freezes what is left each second (`gc.freeze`
    is O(1)), and small young collections (2,000 objects, about a millisecond) still run
    when something else allocates that much between two of those. Older generations are
    never collected automatically. A cycle made while serving would be kept for the life of
    the process: serving makes none (tests/switch/test_gc.py, with the freezing off: requests,
    `/metrics` scrapes, a TCP HSM's calls and its failures), but for asyncio's own socket
    transport under a TLS listener with `--loop asyncio`, a cycle out of the switch's reach
    (`drop_self_references`); `lps_gc_pause_seconds` shows the pauses.
    """
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(2_000, 1_000_000, 1_000_000)
    return before


def untune_gc(thresholds: tuple[int, int, int]) -> None:
    """Leave the process's collector as `tune_gc` found it (switches started in tests)."""
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def read_coupon(database: str | Path, digest: str) -> CouponFacts | None:
    """A coupon as committed, on a short-lived reader (the writer's connection stays the
    writer thread's); None: no such code."""
    reader = open_reader(database)
    try:
        record = reader.coupon(digest)
    finally:
        reader.close()
    return None if record is None else CouponFacts(record.terms, record.state)


def admin_socket_path(database: Path) -> Path:
    return database.with_name(database.name + ".admin.sock")


def take_lock(database: Path) -> int:
    """One switch per database: a second one would split the journal's single writer."""
    database.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(database) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalError(f"{database}: another switch is running on this database") from None
    return fd


def release_lock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def database_in_use(database: Path) -> bool:
    if not Path(str(database) + ".lock").exists():
        return False
    fd = os.open(str(database) + ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def install_event_loop(use_uvloop: bool | None = None) -> str:
    """uvloop when available (it wins in benches/loadgen), else asyncio's default loop."""
    if use_uvloop is None:
        use_uvloop = os.environ.get("LPS_LOOP", "uvloop") == "uvloop"
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            return "asyncio"
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return "uvloop"
    asyncio.set_event_loop_policy(None)
    return "asyncio"


async def serve(config: Config, rules: RuleBook | None = None,
                ready: Callable[[Switch], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT (graceful, exit 0) or a commit error (fail-stop, exit 3)."""
    switch = Switch(config, rules)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    # Before the start: it listens before its last steps (the admin socket, metrics), and a
    # SIGTERM taken by the default action there would end the switch without its drain. One
    # that comes during the start stops the switch gracefully once it has started.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    await switch.start()
    reloads: set[asyncio.Task[dict[str, Any]]] = set()

    def reload_on_signal() -> None:
        task = loop.create_task(switch.reload_programs())  # its outcome is logged
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload_on_signal)
    if ready is not None:
        ready(switch)
    waiter = asyncio.create_task(stop_requested.wait())
    failed = asyncio.create_task(switch.stopped.wait())
    await asyncio.wait({waiter, failed}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    failed.cancel()
    if switch.failure is not None:
        switch.stopping = True
        for server in switch.servers.values():
            server.close()
        return 3
    log.info(kv("shutdown", reason="signal"))
    await switch.stop()
    return 0
