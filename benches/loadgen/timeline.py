"""What held the switch during a load generator run, from its own `/metrics` (docs/switch.md,
"Server"): the histograms of loop lag, group commits, GC pauses, checkpoint work and batch
sizes, read before and after the run and subtracted, so the figures cover the run alone.

A histogram's quantile is given as the upper bound of the bucket that holds it (the
switch's buckets, switch/metrics.py), so "p99 <= 0.05" means the 99th percentile lies in the
bucket ending at 50 ms; `max_le` is the bound of the highest bucket with any observation.
"""

from __future__ import annotations

import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

#: The histograms that say where the loop's time went (docs/switch.md, "Server").
HISTOGRAMS = ("lps_loop_lag_seconds", "lps_commit_seconds", "lps_commit_cpu_seconds",
              "lps_gc_pause_seconds", "lps_checkpoint_seconds", "lps_batch_entries",
              "lps_request_seconds")
#: Labels whose values are told apart (the checkpoint's kinds of work, the GC's generations);
#: the others (a request's MTI and response code) are added together.
KEPT = ("work", "generation")


class Histogram:
    """A histogram's cumulative bucket counts (by upper bound) and sum."""

    def __init__(self) -> None:
        self.buckets: dict[float, float] = {}
        self.sum = 0.0


def scrape(address: str) -> dict[str, Histogram]:
    """`HISTOGRAMS` as the switch at `address` (host:port) exports them now."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as reply:
        return parse(reply.read().decode())


def parse(text: str) -> dict[str, Histogram]:
    """Per histogram, and per value of a `KEPT` label, the label sets added together."""
    out: dict[str, Histogram] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in HISTOGRAMS:
            continue
        for sample in family.samples:
            kept = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()) if k in KEPT)
            found = out.setdefault(f"{family.name}{{{kept}}}" if kept else family.name,
                                   Histogram())
            if sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                found.buckets[le] = found.buckets.get(le, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                found.sum += sample.value
    return out


def summary(before: dict[str, Histogram], after: dict[str, Histogram]) -> dict[str, Any]:
    """Per histogram over the window: count, mean, the buckets holding p50 and p99, the
    highest bucket reached."""
    out: dict[str, Any] = {}
    for name, now in sorted(after.items()):
        then = before.get(name, Histogram())
        bounds = sorted(now.buckets)
        counts = [now.buckets[b] - then.buckets.get(b, 0.0) for b in bounds]  # cumulative
        total = counts[-1] if counts else 0.0
        if not total:
            continue
        summed = now.sum - then.sum
        highest = next(b for b, c in zip(bounds, counts, strict=True) if c == total)
        out[name] = {"count": int(total), "mean": summed / total,
                     "p50_le": _quantile(bounds, counts, 0.50),
                     "p99_le": _quantile(bounds, counts, 0.99), "max_le": highest}
    return out


def _quantile(bounds: list[float], cumulative: list[float], q: float) -> float:
    wanted = q * cumulative[-1]
    return next(b for b, c in zip(bounds, cumulative, strict=True) if c >= wanted)
