"""Prometheus metrics of the switch (prometheus-client), on their own registry.

Labels never carry a card number: requests are counted by MTI and response code only.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from switch.config import HostPort
from switch.pgconn import SessionStats

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("lps_requests", "Requests answered, by MTI and response code",
                                ["mti", "rc"], registry=self.registry)
        self.latency = Histogram("lps_request_seconds",
                                 "From frame received to response written (after commit)",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("lps_batch_entries", "Journal entries per group commit",
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        #: Where the loop's time goes (docs/switch.md, "Metrics"): the writer thread's commit,
        #: the checkpoint thread's work, and how late the loop woke a timer.
        self.commit_seconds = Histogram("lps_commit_seconds", "Group commits in the writer "
                                        "thread, rows written to COMMIT returned (fsync "
                                        "included)", buckets=LATENCY_BUCKETS,
                                        registry=self.registry)
        self.checkpoint_seconds = Histogram("lps_checkpoint_seconds", "Checkpoint work in its "
                                            "thread: the WAL into the database (wal) or the "
                                            "verified checkpoint's tail (verify)", ["work"],
                                            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.loop_lag = Histogram("lps_loop_lag_seconds", "How late the event loop woke the "
                                  "checkpointer's timer: the time something else held the loop",
                                  buckets=LATENCY_BUCKETS, registry=self.registry)
        self.connections = Gauge("lps_open_connections", "Open terminal connections",
                                 registry=self.registry)
        self.cache_cards = Gauge("lps_cache_cards", "Cards held in the in-memory cache",
                                 registry=self.registry)
        self.gc_pause = Histogram("lps_gc_pause_seconds", "Cyclic GC collections (they stop "
                                  "the event loop)", ["generation"], buckets=LATENCY_BUCKETS,
                                  registry=self.registry)
        #: A node of several found another node's rows at its turn (docs/switch.md,
        #: "Several nodes").
        self.node_refreshes = Histogram("lps_node_refresh_seconds", "Turns at which this "
                                        "node's state was read again (another node had "
                                        "appended), by how long the read took",
                                        buckets=LATENCY_BUCKETS, registry=self.registry)
        self._gc_started = 0.0
        self._children: dict[tuple[str, str], Any] = {}
        self._server: Any = None

    def observe(self, mti: str, rc: str, seconds: float) -> None:
        key = (mti, rc)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(mti=mti, rc=rc)
        child.inc()
        self.latency.observe(seconds)

    def watch_gc(self) -> None:
        """Time every collection: a pause here is a pause of every request in flight."""
        gc.callbacks.append(self._on_gc)

    def unwatch_gc(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pause.labels(generation=str(info["generation"])).observe(
                time.perf_counter() - self._gc_started)

    def bind_cache(self, size: Callable[[], int]) -> None:
        self.cache_cards.set_function(size)

    def bind_database(self, stats: SessionStats) -> None:
        """The PostgreSQL journal's session: connections made, lost, attempts that failed and
        commits whose outcome had to be looked up (docs/switch.md, "PostgreSQL")."""
        self.registry.register(DatabaseCollector(stats))

    def serve(self, address: HostPort) -> HostPort:
        """Serve `/metrics` over HTTP in a background thread; returns the bound address."""
        server, _thread = start_http_server(address.port, address.host, registry=self.registry)
        self._server = server
        host, port = server.server_address[:2]
        return HostPort(str(host), int(port))

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class DatabaseCollector(Collector):
    """`SessionStats` as counters, read at each scrape."""

    def __init__(self, stats: SessionStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        s = self.stats
        for name, text, value in (
            ("lps_database_connects", "Sessions opened on the journal's primary", s.connects),
            ("lps_database_lost", "Sessions lost (the switch reconnects by itself)", s.lost),
            ("lps_database_failed_attempts", "Connection attempts that failed",
             s.failed_attempts),
            ("lps_database_commits_unknown", "Commits whose outcome was unknown and looked up",
             s.commits_unknown),
        ):
            yield CounterMetricFamily(name, text, value=value)
