"""Prometheus metrics of the switch (prometheus-client), on their own registry.

Labels never carry a card number: requests are counted by MTI and response code only.
"""

from __future__ import annotations

import contextlib
import gc
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import prometheus_client.metrics
from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import INF, floatToGoString

from switch.config import HostPort
from switch.pgconn import SessionStats

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        #: Every answer is counted here (`observe`), on the event loop.
        self.answers = Answers("lps_requests", "Requests answered, by MTI and response code",
                               "lps_request_seconds",
                               "From frame received to response written (after commit)",
                               LATENCY_BUCKETS)
        self.registry.register(self.answers)
        self.batch_size = Histogram("lps_batch_entries", "Journal entries per group commit",
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        #: Where the loop's time goes (docs/switch.md, "Metrics"): the group commit, the
        #: checkpoint thread's work, and how late the loop woke a timer.
        self.commit_seconds = Histogram("lps_commit_seconds", "Group commits, rows built to "
                                        "COMMIT returned (fsync included), in the writer "
                                        "thread or through the commit process",
                                        buckets=LATENCY_BUCKETS,
                                        registry=self.registry)
        #: The CPU (user and system) of those commits: the writer thread's, or the commit
        #: process's when there is one (the loop's part of building the rows is the loop's
        #: CPU): a commit far longer than its CPU waited, for the GIL, the loop or the disk
        #: (benches/README.md, "The writer's time at 2,000/s").
        self.commit_cpu_seconds = Histogram("lps_commit_cpu_seconds", "The writer thread's "
                                            "or the commit process's CPU time in each group "
                                            "commit (user and system)",
                                            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.checkpoint_seconds = Histogram("lps_checkpoint_seconds", "Checkpoint work in its "
                                            "thread: the WAL into the database (wal) or the "
                                            "verified checkpoint's tail (verify)", ["work"],
                                            buckets=LATENCY_BUCKETS, registry=self.registry)
        #: SQLite's WAL at each WAL checkpoint (docs/switch.md, "WAL checkpoints").
        self.wal_frames = Gauge("lps_wal_frames", "Frames in the SQLite WAL at the last WAL "
                                "checkpoint: about a second of commits while the writer "
                                "restarts it; ever more while a reader keeps it from "
                                "restarting (0 on PostgreSQL)", registry=self.registry)
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
        self._server: Any = None
        self.observe = self.answers.observe

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


class Answers(Collector):
    """The answers: counted by MTI and response code (a counter), and their latency (a
    histogram), observed on the event loop only.

    Scraped exactly as prometheus-client's `Counter` with labels `mti` and `rc` and its
    `Histogram` would be (tests/switch/test_metrics.py holds it to that), without their cost
    per answer: four locks and eight calls, where `observe` is one call and no lock. The
    scrape's thread reads the plain numbers as they are, as it reads each of `Histogram`'s
    buckets in turn.
    """

    def __init__(self, counter: str, counter_help: str, histogram: str, histogram_help: str,
                 buckets: Sequence[float]) -> None:
        self.counter, self.counter_help = counter, counter_help
        self.histogram, self.histogram_help = histogram, histogram_help
        self.bounds = [float(b) for b in buckets]
        if self.bounds != sorted(self.bounds):
            raise ValueError("Buckets not in sorted order")
        if self.bounds[-1] != INF:
            self.bounds.append(INF)
        self.les = [floatToGoString(b) for b in self.bounds]  # type: ignore[no-untyped-call]
        #: By (MTI, response code): answers, and when the first was counted (`_created`).
        self.counts: dict[tuple[str, str], int] = {}
        self.created: dict[tuple[str, str], float] = {}
        #: Latencies by bucket (each in the first whose bound it does not exceed), their sum.
        self.buckets = [0] * len(self.bounds)
        self.sum = 0.0
        self.histogram_created = time.time()

    def observe(self, mti: str, rc: str, seconds: float) -> None:
        """One answer, `seconds` after its frame was received."""
        key = (mti, rc)
        counts = self.counts
        if key in counts:
            counts[key] += 1
        else:
            self.created[key] = time.time()
            counts[key] = 1
        self.sum += seconds
        self.buckets[bisect_left(self.bounds, seconds)] += 1

    def describe(self) -> list[Metric]:
        return [Metric(self.counter, self.counter_help, "counter"),
                Metric(self.histogram, self.histogram_help, "histogram")]

    def collect(self) -> Iterator[Metric]:
        created = prometheus_client.metrics._use_created
        counter = Metric(self.counter, self.counter_help, "counter")
        for key, count in list(self.counts.items()):
            labels = {"mti": key[0], "rc": key[1]}
            counter.add_sample(self.counter + "_total", labels, float(count))
            if created:
                counter.add_sample(self.counter + "_created", labels, self.created[key])
        yield counter
        histogram = Metric(self.histogram, self.histogram_help, "histogram")
        acc = 0.0
        for le, count in zip(self.les, list(self.buckets), strict=True):
            acc += count
            histogram.add_sample(self.histogram + "_bucket", {"le": le}, acc)
        histogram.add_sample(self.histogram + "_count", {}, acc)
        if self.bounds[0] >= 0:
            histogram.add_sample(self.histogram + "_sum", {}, self.sum)
        if created:
            histogram.add_sample(self.histogram + "_created", {}, self.histogram_created)
        yield histogram


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
