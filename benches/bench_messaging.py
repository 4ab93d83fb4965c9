"""Outbox throughput to a local SMSC: messages/s from queued to `sent`, by SMSC window.

Each round queues MESSAGES single-part Persian SMS (UCS-2) in one transaction, then one
`Sender` drains them through a loopback SMSC (smpp34's server, tests/messaging/smsc.py) that
accepts every submit_sm and sends no receipts. What is timed is the sender's work: claiming,
rendering, submit_sm with `window` awaiting answers, recording every message id (SQLite WAL,
synchronous=FULL). The SMSC runs in the same process (its own thread and Rust runtime), so on
a loaded 2-core machine the figure is a lower bound.

    .venv/bin/pytest benches/bench_messaging.py --benchmark-only
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package (servers)

from switch.messaging import NewMessage, enqueue
from switch.messaging.sender import Sender
from tests.messaging.conftest import DAYTIME, Clock, open_db, write_config
from tests.messaging.smsc import TestSmsc
from tests.ports import free_port

MESSAGES = 500


@pytest.mark.parametrize("window", [1, 10, 50])
def test_outbox_to_smsc(benchmark: Any, tmp_path: Path, window: int) -> None:
    smsc = TestSmsc(port=free_port(), receipts=None).start()
    rounds: list[int] = []
    try:
        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            directory = tmp_path / f"r{len(rounds)}"
            directory.mkdir()
            rounds.append(1)
            config = write_config(directory, sms_port=smsc.port,
                                  sms="registered_delivery = false\n",
                                  messaging="batch = 1000\n")
            config = _with_window(config, window)
            box = open_db(config)
            with box.transaction():
                enqueue(box, [NewMessage("sms", "09121234567", "receipt", f"cust-{i}",
                                          {"amount": 10_000 * i, "points": i, "balance": i},
                                          store_id="STORE0000000001")
                               for i in range(MESSAGES)], DAYTIME, config.messaging.templates)
            return (Sender(box, config, clock=Clock(DAYTIME)),), {}

        def drain(sender: Sender) -> None:
            sender.run(once=True)
            assert sender.report.sent == MESSAGES, sender.report

        benchmark.pedantic(drain, setup=setup, rounds=3, iterations=1)
    finally:
        smsc.stop()
    median = benchmark.stats.stats.median
    benchmark.extra_info["window"] = window
    benchmark.extra_info["messages_per_s"] = round(MESSAGES / median) if median else None


def _with_window(config: Any, window: int) -> Any:
    import dataclasses

    m = config.messaging
    sms = dataclasses.replace(m.sms, window=window, rate=1_000_000.0)
    return dataclasses.replace(config, messaging=dataclasses.replace(m, sms=sms))

