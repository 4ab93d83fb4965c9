"""The imperative shell: asyncio listeners, group commit, admin socket, graceful shutdown.

Path of one message: bytes -> `FrameDecoder` -> `profile.decode` -> `core.handle` (pure) ->
response encoded at once -> queued with its journal entries -> the single writer task commits
the batch (SQLite, in a worker thread so deciding continues meanwhile) -> only then the response
bytes are written to the terminal. Decisions made while a commit is in flight form the next
batch. A failed commit stops the switch (fail-stop): nothing further is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import gc
import json
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from iso8583 import (
    CodecError,
    FrameDecoder,
    FramingError,
    Message,
    Profile,
    frame,
    load_profile,
)
from iso8583.loyalty import parse_tlv
from switch.config import Config, HostPort
from switch.core import (
    NO_CHECKS,
    Checks,
    Decision,
    Entry,
    card_command,
    handle,
    prune,
    reject_undecodable,
)
from switch.core.admin import AdminError, adjust_command
from switch.core.luhn import mask_pan
from switch.core.programs.rules import program_rules
from switch.core.rules import RuleBook
from switch.metrics import Metrics
from switch.security import (
    SECURITY_COMMANDS,
    event_counter,
    open_security,
    run_now,
    security_command,
    server_context,
)
from switch.store import SqliteStore, StoreError

log = logging.getLogger("lps.switch")
_E = TypeVar("_E", bound=BaseException)


def without_traceback(exc: _E) -> _E:
    """Drop the tracebacks of `exc` and its causes before keeping it past its `except`.

    A kept exception's traceback holds the frame that keeps the exception: a reference cycle,
    which the switch's GC policy would freeze for good (`tune_gc`).
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        e.__traceback__ = None
        todo += (e.__cause__, e.__context__)
    return exc


def kv(event: str, **fields: Any) -> str:
    """A structured (logfmt) log line; callers pass PANs through `mask_pan`."""
    parts = [f"event={event}"]
    for k, v in fields.items():
        text = str(v)
        parts.append(f"{k}={json.dumps(text) if (' ' in text or not text) else text}")
    return " ".join(parts)


class SwitchStopped(RuntimeError):
    """The switch stopped taking work (fail-stop after a commit error)."""


class Writer:
    """The one task that writes the journal: group commit, release after COMMIT, fail-stop."""

    def __init__(self, store: SqliteStore, metrics: Metrics, max_batch: int,
                 on_fail: Callable[[str], None],
                 on_released: Callable[[], None] | None = None) -> None:
        self.store = store
        self.on_released = on_released
        self.metrics = metrics
        self.max_batch = max_batch
        self.on_fail = on_fail
        self.queue: list[tuple[list[Entry], Callable[[], None]]] = []
        self.wakeup = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.failed: str | None = None
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="lps-writer")
        self.commits = 0

    def submit(self, entries: list[Entry], release: Callable[[], None]) -> None:
        if self.failed is not None:
            raise SwitchStopped(self.failed)
        self.queue.append((entries, release))
        self.idle.clear()
        self.wakeup.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.failed is None:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue and self.failed is None:
                # Take at most max_batch requests: the rest form the next batch.
                batch = self.queue[: self.max_batch]
                del self.queue[: self.max_batch]
                entries = [e for es, _ in batch for e in es]
                if entries:
                    try:
                        await loop.run_in_executor(self.executor, self.store.append, entries)
                    except Exception as exc:  # any failure to commit is fatal
                        reason = str(exc) if isinstance(exc, StoreError) else repr(exc)
                        self.failed = reason
                        self.on_fail(reason)
                        return
                    self.commits += 1
                    self.metrics.batch_size.observe(len(entries))
                for _, release in batch:
                    release()
                if self.on_released is not None:
                    self.on_released()  # one write per connection for the whole batch
            if not self.queue:
                self.idle.set()

    async def drain(self) -> None:
        while self.queue or not self.idle.is_set():
            if self.failed is not None:
                return
            await self.idle.wait()

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class Connection(asyncio.Protocol):
    """One terminal connection: many requests outstanding, answers in commit order."""

    def __init__(self, switch: Switch, profile: Profile, name: str) -> None:
        self.switch = switch
        self.profile = profile
        self.name = name
        self.decoder = FrameDecoder(switch.config.switch.limits.max_frame)
        self.transport: asyncio.Transport | None = None
        self.inflight = 0
        self.paused = False
        self.write_paused = False
        self.closed = False
        self.last_seen = 0.0
        self.peer = ""
        self.outbox: list[bytes] = []  # released (committed) answers not yet written

    def flush(self) -> None:
        """Write every answer released by the last commit in one call (one syscall, not N)."""
        out, self.outbox = self.outbox, []
        if out and not self.closed and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    # -- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but offer the same API.
        self.transport = cast(asyncio.Transport, transport)
        self.peer = str(transport.get_extra_info("peername"))
        sw = self.switch
        self.last_seen = sw.loop.time()
        if len(sw.connections) >= sw.config.switch.limits.max_connections or sw.stopping:
            log.warning(kv("connection_refused", peer=self.peer, reason="connection limit"))
            self.transport.abort()
            self.closed = True
            return
        sw.connections.add(self)
        sw.metrics.connections.set(len(sw.connections))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None  # the transport points back at us: no cycle left to collect
        sw = self.switch
        sw.connections.discard(self)
        sw.paused.discard(self)
        sw.metrics.connections.set(len(sw.connections))

    def pause_writing(self) -> None:
        # The terminal does not read its answers: stop reading its requests.
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._update_reading()

    def data_received(self, data: bytes) -> None:
        sw = self.switch
        self.last_seen = sw.loop.time()
        self.decoder.feed(data)
        try:
            for payload in self.decoder.frames():
                if self.closed or sw.stopping:
                    return
                self.on_frame(payload)
        except FramingError as exc:
            log.warning(kv("frame_too_long", peer=self.peer, listener=self.name, error=exc))
            self.close()

    # -- requests ---------------------------------------------------------------------------

    def on_frame(self, payload: bytes) -> None:
        sw = self.switch
        started = time.perf_counter()
        now = dt.datetime.now(dt.UTC)
        sec = sw.security
        try:
            msg = self.profile.decode(payload)
        except CodecError as exc:
            tid, err = exc.partial.get(41), without_traceback(exc)
            self._process(str(exc.partial.get("mti", "????")), started,
                          lambda _: self._undecodable(payload, err, now),
                          involved=sec.seals(sw.state, Message("0000", {41: tid}))
                          if isinstance(tid, str) else False)
            return
        mti = msg.mti
        if msg.fields.get(3) == "200000":
            self._fetch_original(msg, now)

        def decide(checks: Checks) -> Decision | None:
            self._fetch_totals(msg)
            decision = handle(sw.state, msg, now, checks)
            if decision.response is None:
                log.info(kv("ignored", peer=self.peer, mti=mti, reason=decision.reason))
                return None
            return decision

        involved = sec.involved(sw.state, msg)
        self._process(mti, started, decide, involved,
                      lambda: sec.checks(sw.state, msg, payload, self.profile))

    def _process(self, mti: str, started: float, decide: Callable[[Checks], Decision | None],
                 involved: bool,
                 prepare: Callable[[], Coroutine[Any, Any, Checks]] | None = None) -> None:
        """HSM checks, decision, response MAC, submission: in arrival order (switch/security).

        In-process HSM calls never suspend and run right here; with a TCP HSM the checks of
        later requests overlap while the decisions stay in order (`Sequencer`).
        """
        sec = self.switch.security
        if sec.inline or not (involved or sec.sequencer.busy):
            checks = run_now(prepare()) if involved and prepare is not None else NO_CHECKS
            decision = decide(checks)
            if decision is not None:
                # Only a request that involves the HSM can have a response to MAC.
                self.respond(decision, mti, started,
                             run_now(self._seal(decision)) if involved else None)
            return

        async def checked() -> Checks:
            return await prepare() if involved and prepare is not None else NO_CHECKS

        async def finish(checks: Checks) -> None:
            decision = decide(checks)
            if decision is not None:
                self.respond(decision, mti, started, await self._seal(decision))

        self._hold(1)  # counted in flight from now on: backpressure covers HSM waits too
        sec.sequencer.run(checked(), finish, done=lambda: self._hold(-1))

    def _hold(self, n: int) -> None:
        sw = self.switch
        self.inflight += n
        sw.inflight += n
        self._update_reading()
        if n < 0 and sw.paused and sw.inflight < sw.config.switch.limits.max_inflight:
            for conn in list(sw.paused):
                conn._update_reading()

    async def _seal(self, decision: Decision) -> bytes | None:
        """The response MACed for its terminal (None: plain, encoded by `respond`)."""
        sw = self.switch
        resp = decision.response
        if resp is None or decision.retransmission or not sw.security.seals(sw.state, resp):
            return None  # a retransmission already carries the MAC it was first sent with
        try:
            return await sw.security.seal(sw.state, resp, self.profile)
        except CodecError:
            return None  # respond() re-encodes and answers 96

    def _fetch_totals(self, msg: Message) -> None:
        """Read the totals of a batch the cache has not seen since recovery from the store.

        The batch may be older than the recovered window; the core does no I/O, so the shell
        reads it right before the decision (nothing can drop it in between) and a 0500 then
        counts the whole batch. A reversal counts in its original's batch.
        """
        state, fields = self.switch.state, msg.fields
        tid, batch = fields.get(41), fields.get(62)
        if msg.mti[:3] in ("040", "042"):
            de90 = fields.get(90)
            original = state.txns.get((tid, de90[4:10], de90[10:20])) \
                if isinstance(tid, str) and isinstance(de90, str) else None
            if original is None:
                return
            tid, batch = original.key[0], original.batch
        if isinstance(tid, str) and isinstance(batch, str) and (tid, batch) not in state.totals:
            self.switch.store.load_totals(state, tid, batch)

    def _fetch_original(self, msg: Message, now: dt.datetime) -> None:
        """A return names its earn by RRN; one older than the cache is read from the journal."""
        try:
            rrn = parse_tlv(msg.text(48)).get("OR") if 48 in msg.fields else None
        except (CodecError, TypeError):
            return  # the core answers 30
        if rrn:
            self.switch.store.load_earn(self.switch.state, rrn.strip(), now)

    def _undecodable(self, payload: bytes, exc: CodecError, now: dt.datetime) -> Decision | None:
        partial = exc.partial
        mti, stan, tid = partial.get("mti"), partial.get(11), partial.get(41)
        if not (isinstance(mti, str) and isinstance(stan, str) and isinstance(tid, str)):
            log.warning(kv("undecodable", peer=self.peer, listener=self.name, error=exc,
                           action="close"))
            self.close()
            return None
        de7 = partial.get(7)
        tpdu = payload[:5] if self.profile.name == "bcd" and len(payload) >= 5 else None
        log.info(kv("format_error", peer=self.peer, mti=mti, stan=stan, tid=tid, error=exc))
        decision = reject_undecodable(self.switch.state, mti, stan, tid,
                                      de7 if isinstance(de7, str) else "", now, str(exc),
                                      tpdu=tpdu)
        return decision

    def respond(self, decision: Decision, mti: str, started: float,
                encoded: bytes | None = None) -> None:
        sw = self.switch
        assert decision.response is not None
        resp = decision.response
        try:
            wire = frame(encoded if encoded is not None else self.profile.encode(resp),
                         sw.config.switch.limits.max_frame)
        except CodecError as exc:  # a response we cannot encode is our bug: say so, answer 96
            log.error(kv("encode_failed", mti=resp.mti, error=exc))
            resp.fields = {k: v for k, v in resp.fields.items() if k in (7, 11, 41, 42)}
            resp.fields[39] = "96"
            wire = frame(self.profile.encode(resp))
        rc = str(resp.fields.get(39, ""))
        if rc not in ("00", "") and log.isEnabledFor(logging.DEBUG):
            pan = resp.fields.get(2)
            log.debug(kv("declined", mti=mti, rc=rc, tid=resp.fields.get(41, ""),
                         stan=resp.fields.get(11, ""),
                         pan=mask_pan(pan) if isinstance(pan, str) else "",
                         reason=decision.reason))
        self.inflight += 1
        sw.inflight += 1
        self._update_reading()

        def release() -> None:
            self.inflight -= 1
            sw.inflight -= 1
            if not self.closed and self.transport is not None:
                if not self.outbox:
                    sw.unflushed.append(self)
                self.outbox.append(wire)  # written by Switch.flush once the batch is released
            sw.metrics.observe(mti, rc, time.perf_counter() - started)
            self._update_reading()
            if sw.paused and sw.inflight < sw.config.switch.limits.max_inflight:
                for conn in list(sw.paused):
                    conn._update_reading()

        try:
            sw.writer.submit(decision.entries, release)
        except SwitchStopped:
            self.close()

    def _update_reading(self) -> None:
        if self.transport is None or self.closed:
            return
        limits = self.switch.config.switch.limits
        over_global = self.switch.inflight >= limits.max_inflight
        should_pause = (self.write_paused or self.inflight >= limits.max_inflight_per_connection
                        or over_global)
        if should_pause and not self.paused:
            self.transport.pause_reading()
            self.paused = True
            if over_global:
                self.switch.paused.add(self)
        elif not should_pause and self.paused:
            self.transport.resume_reading()
            self.paused = False
            self.switch.paused.discard(self)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()


class Switch:
    """A running switch: state recovered from the store, listeners, writer, admin socket."""

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

    @property
    def database(self) -> Path:
        return self.config.switch.database

    async def start(self) -> None:
        cfg = self.config.switch
        # TLS files are checked before anything is opened: a bad path is a ConfigError (exit 2).
        contexts = {name: server_context(tls, self.config.path, name)
                    for name, tls in cfg.tls.items()}
        self._lock_fd = take_lock(self.database)
        started = time.perf_counter()
        self.store = SqliteStore(self.database)
        self.state = self.store.load(self.config, self.rules, dt.datetime.now(dt.UTC))
        rep = self.store.report
        log.info(kv("recovered", database=self.database, cards=rep.cards, lots=rep.lots,
                    transactions=rep.transactions, journal=rep.journal_entries,
                    seconds=f"{time.perf_counter() - started:.3f}"))
        self.metrics.bind_cache(lambda: len(self.state.cards))
        try:
            self.security = open_security(self.config, self.store.security_rows(),
                                          event_counter(self.metrics.registry))
            await self.security.check_lmk(self.store.conn, self.config.path)
        except BaseException:
            self.store.close()
            release_lock(self._lock_fd)
            raise
        self._gc_thresholds = tune_gc()
        self.metrics.watch_gc()
        self.writer = Writer(self.store, self.metrics, cfg.limits.max_batch, self._fail,
                             self.flush)
        self._tasks.append(asyncio.create_task(self.writer.run(), name="lps-writer"))
        self._tasks.append(asyncio.create_task(self._sweeper(), name="lps-sweeper"))
        self.store.checkpoint_in_background()
        self._tasks.append(asyncio.create_task(self._checkpointer(), name="lps-checkpoint"))
        for name, addr in (("ascii", cfg.listen_ascii), ("bcd", cfg.listen_bcd)):
            if addr is None:
                continue
            profile = load_profile(name)
            tls = contexts.get(name)
            server = await self.loop.create_server(
                lambda p=profile, n=name: Connection(self, p, n),
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
        self.servers["admin"] = await asyncio.start_unix_server(self._admin, path=str(admin))
        if cfg.metrics is not None:
            self.addresses["metrics"] = self.metrics.serve(cfg.metrics)
            log.info(kv("metrics", address=self.addresses["metrics"]))

    def flush(self) -> None:
        """Write the answers of the batch just committed, one write per connection."""
        conns, self.unflushed = self.unflushed, []
        for conn in conns:
            conn.flush()

    def _fail(self, reason: str) -> None:
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
                prune(self.state, dt.datetime.now(dt.UTC))

    async def _checkpointer(self) -> None:
        """WAL checkpoints each second, and the verified checkpoint's tail ten times a second,
        in their own thread, never inside a group commit.

        Measured: SQLite's automatic checkpoint (every ~4 MB of WAL) stalled the batch whose
        COMMIT triggered it; see docs/switch.md. The verified checkpoint's advance rides in the
        writer's next transaction at about 2 µs per journal row: advancing ten times a second
        keeps that to a fraction of a millisecond per batch instead of a few milliseconds in
        one batch each second (which showed in the open-loop p99).
        """
        executor = ThreadPoolExecutor(1, thread_name_prefix="lps-checkpoint")
        ticks = 0
        try:
            while not self.stopping and self.failure is None:
                await asyncio.sleep(VERIFY_EVERY)
                ticks += 1
                work = self.store.checkpoint if ticks % WAL_CHECKPOINT_TICKS == 0 \
                    else self.store.verify_tail
                try:
                    await self.loop.run_in_executor(executor, work)
                except sqlite3.Error as exc:  # the WAL only grows; commits stay durable
                    log.warning(kv("checkpoint_failed", error=exc))
        finally:
            executor.shutdown(wait=True)

    async def _admin(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Operator commands while the switch runs (one JSON request per line)."""
        try:
            line = await reader.readline()
            req = json.loads(line)
            try:
                if req.get("cmd") == "profile":
                    self._reload_profile(req["pan"])
                    entry = None
                elif req.get("cmd") in SECURITY_COMMANDS:
                    entry = security_command(self.state, req, dt.datetime.now(dt.UTC))
                elif req.get("cmd") == "adjust":
                    entry = adjust_command(self.state, req["pan"], int(req["points"]),
                                           req["store"], req["reason"], req.get("by", ""),
                                           dt.datetime.now(dt.UTC))
                else:
                    entry = card_command(self.state, req["cmd"], req["pan"],
                                         dt.datetime.now(dt.UTC), req.get("coalition"))
            except AdminError as exc:
                reply = {"ok": False, "error": str(exc)}
            else:
                if entry is not None:
                    done = asyncio.Event()
                    self.writer.submit([entry], done.set)
                    await done.wait()
                reply = {"ok": True}
        except (ValueError, KeyError, SwitchStopped) as exc:
            reply = {"ok": False, "error": f"bad admin request: {exc}"}
        writer.write(json.dumps(reply).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    def _reload_profile(self, pan: str) -> None:
        """Read one card's customer profile, just written by `lps cards enroll`, into the cache.

        The profile row is committed by the CLI before it asks; reading it on a short-lived
        connection keeps the writer's connection to the writer thread.
        """
        from switch.core.programs.club import Club
        from switch.programs_store import read_profile

        card = self.state.cards.get(pan)
        if card is None:
            raise AdminError("card is not enrolled in the running switch")
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT name, phone, birth_date, enrolled_at FROM customers "
                               "WHERE pan = ?", (pan,)).fetchone()
        finally:
            conn.close()
        if row is None:
            raise AdminError("no customer profile is stored for this card")
        if card.club is None:
            card.club = Club()
        card.club.profile = read_profile(row)

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
        self.store.close()
        self.metrics.unwatch_gc()
        self.metrics.shutdown()
        untune_gc(self._gc_thresholds)
        with contextlib.suppress(FileNotFoundError):
            admin_socket_path(self.database).unlink()
        release_lock(self._lock_fd)
        self.stopped.set()
        log.info(kv("stopped", commits=self.writer.commits))


#: How often the rows committed since the verified checkpoint are verified (store.verify_tail),
#: and every how many of those ticks the WAL is checkpointed into the database file.
VERIFY_EVERY = 0.1
WAL_CHECKPOINT_TICKS = 10

#: How often the sweeper moves the objects that survived into the permanent generation.
FREEZE_EVERY = 1.0


def tune_gc() -> tuple[int, int, int]:
    """Keep the cyclic GC from rescanning the cache: it stalled the event loop for ~40 ms.

    The cache is millions of long-lived objects and each request leaves ~5 more (its Txn,
    response, lots, moves). Measured: the collector doubled the cost of a decision (34 -> 63 µs)
    once the cache grew, and a young-generation collection over 50,000 survivors stopped the
    loop for 37-45 ms every ~3 s at 2,000 requests/s, which set the open-loop p99 (25-50 ms).
    So: everything alive at start is frozen (never scanned again), the sweeper freezes what
    survived each second (`gc.freeze` is O(1)), and small young collections (2,000 objects,
    about a millisecond) still reclaim short-lived cycles before they are frozen. Older
    generations are never collected automatically: the request path makes no reference cycles
    (tests/switch/test_gc.py), so nothing is lost; `lps_gc_pause_seconds` shows the pauses.
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
        raise StoreError(f"{database}: another switch is running on this database") from None
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
    await switch.start()
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
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
