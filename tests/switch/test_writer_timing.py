"""The writer's timing of a group commit (docs/switch.md, "Metrics"): `lps_commit_seconds` is
the commit's length, `lps_commit_cpu_seconds` the writer thread's own CPU in it, so a commit
that waited (for the GIL, for the disk) shows as the gap between the two."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import cast

from prometheus_client import Histogram

from switch.core.entries import Entry
from switch.journal import Journal
from switch.metrics import Metrics
from switch.writer import Writer


class _Journal:
    """Stands in for the journal: each append runs `work` in the calling (writer) thread."""

    def __init__(self, work: Callable[[], None]) -> None:
        self.work = work

    def append(self, entries: Sequence[Entry]) -> None:
        self.work()


def _sample(histogram: Histogram, suffix: str) -> float:
    (family,) = histogram.collect()
    return next(s.value for s in family.samples if s.name.endswith(suffix))


def _sum(histogram: Histogram) -> float:
    return _sample(histogram, "_sum")


def _count(histogram: Histogram) -> float:
    return _sample(histogram, "_count")


def _timed(work: Callable[[], None]) -> Metrics:
    metrics = Metrics()
    writer = Writer(cast(Journal, _Journal(work)), metrics, 10, lambda _: None, lambda _e, _o: None)
    try:
        writer._timed_append(([],))
    finally:
        writer.close()
    return metrics


def test_a_commit_that_waits_counts_its_length_but_not_its_wait_as_cpu() -> None:
    # The commit waits for another thread, which takes a tenth of a second of CPU meanwhile:
    # the commit is at least that long, and its own CPU is a small part of it.
    done = threading.Event()

    def busy() -> None:
        start = time.thread_time()
        while time.thread_time() - start < 0.1:
            pass
        done.set()

    def wait() -> None:
        threading.Thread(target=busy).start()
        assert done.wait(60)

    metrics = _timed(wait)
    assert _count(metrics.commit_seconds) == _count(metrics.commit_cpu_seconds) == 1
    assert _sum(metrics.commit_seconds) >= 0.1
    assert _sum(metrics.commit_cpu_seconds) < 0.05


def test_a_commit_that_computes_counts_that_cpu() -> None:
    def compute() -> None:
        start = time.thread_time()
        while time.thread_time() - start < 0.05:
            pass

    metrics = _timed(compute)
    assert _sum(metrics.commit_cpu_seconds) >= 0.05
    assert _sum(metrics.commit_seconds) >= _sum(metrics.commit_cpu_seconds) - 0.01
