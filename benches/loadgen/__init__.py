"""Load generator for the switch: closed-loop capacity and open-loop latency.

`python -m benches.loadgen --help`. It starts the target (the real `lps serve`, durable, or a
bare framed echo server on the same event loop) in its own process, drives it from separate
worker processes and prints approvals/s, answers/s and p50/p99 latency; `--target both` runs
the switch and the echo server with the same load and reports their ratio.
"""
