"""The load generator's window over the switch's own histograms (benches/loadgen/timeline.py):
what was observed between two reads, from the switch's real `/metrics` text."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from benches.loadgen import timeline
from switch.metrics import Metrics


def test_the_summary_covers_only_what_was_observed_between_the_two_reads() -> None:
    metrics = Metrics()
    metrics.commit_seconds.observe(0.3)  # before the window: left out
    metrics.gc_pause.labels(generation="2").observe(0.2)
    before = timeline.parse(generate_latest(metrics.registry).decode())
    for seconds in [0.0004] * 60 + [0.003] * 39 + [0.07]:
        metrics.commit_seconds.observe(seconds)
        metrics.commit_cpu_seconds.observe(seconds / 2)
    metrics.gc_pause.labels(generation="0").observe(0.0015)
    metrics.gc_pause.labels(generation="0").observe(0.004)
    metrics.batch_size.observe(3)
    metrics.observe("0200", "00", 0.001)  # a request's MTI and code are added together
    metrics.observe("0400", "25", 0.03)
    after = timeline.parse(generate_latest(metrics.registry).decode())

    held = timeline.summary(before, after)

    commits = held["lps_commit_seconds"]
    assert commits["count"] == 100
    assert commits["mean"] == pytest.approx((60 * 0.0004 + 39 * 0.003 + 0.07) / 100)
    assert (commits["p50_le"], commits["p99_le"], commits["max_le"]) == (0.0005, 0.005, 0.1)
    cpu = held["lps_commit_cpu_seconds"]
    assert cpu["count"] == 100 and cpu["mean"] == pytest.approx(commits["mean"] / 2)
    gc = held['lps_gc_pause_seconds{generation="0"}']
    assert (gc["count"], gc["p50_le"], gc["max_le"]) == (2, 0.002, 0.005)
    assert held["lps_batch_entries"]["mean"] == 3
    requests = held["lps_request_seconds"]
    assert (requests["count"], requests["p50_le"], requests["max_le"]) == (2, 0.001, 0.05)
    assert 'lps_gc_pause_seconds{generation="2"}' not in held  # nothing in the window
    assert "lps_loop_lag_seconds" not in held
