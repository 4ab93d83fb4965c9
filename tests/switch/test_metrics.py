"""`/metrics` shows the answers as prometheus-client's own `Counter` (by MTI and response
code) and `Histogram` (latency) would show them (docs/switch.md, "Metrics"): the switch counts
them itself, on the event loop (switch/metrics.py, `Answers`)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

from switch.metrics import LATENCY_BUCKETS, Metrics

SECONDS = st.one_of(st.sampled_from([0.0, *LATENCY_BUCKETS, 2.5000001, 60.0]),
                    st.floats(0, 3, allow_nan=False))
ANSWER = st.tuples(st.sampled_from(["0200", "0400", "0800"]), st.sampled_from(["00", "51", "94"]),
                   SECONDS)


def without_times(text: bytes) -> str:
    """The exposition with each `_created` timestamp replaced (they are clock readings), and
    without the end mark (the switch's registry has more metrics after these)."""
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 T", text.decode()).replace("# EOF\n", "")


def answers_alone(text: bytes) -> str:
    keep = [block for block in without_times(text).split("# HELP ")
            if block.startswith(("lps_requests_total ", "lps_requests ", "lps_request_seconds "))]
    return "# HELP ".join(["", *keep])


@settings(max_examples=25, deadline=None)
@given(st.lists(ANSWER, max_size=30))
def test_the_answers_are_scraped_as_prometheus_client_counts_them(
        answers: list[tuple[str, str, float]]) -> None:
    metrics = Metrics()
    registry = CollectorRegistry()
    requests = Counter("lps_requests", "Requests answered, by MTI and response code",
                       ["mti", "rc"], registry=registry)
    latency = Histogram("lps_request_seconds",
                        "From frame received to response written (after commit)",
                        buckets=LATENCY_BUCKETS, registry=registry)
    for mti, rc, seconds in answers:
        metrics.observe(mti, rc, seconds)
        requests.labels(mti=mti, rc=rc).inc()
        latency.observe(seconds)
    for exposition in (generate_latest, openmetrics):  # the text format; OpenMetrics
        assert answers_alone(exposition(metrics.registry)) == answers_alone(exposition(registry))
