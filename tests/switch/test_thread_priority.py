"""The checkpoint thread runs at a lower CPU priority than the threads that serve
(switch/thread_priority.py, docs/switch.md "The checkpoint thread's priority")."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from switch.config import HostPort
from switch.server import Switch
from switch.thread_priority import BACKGROUND_NICENESS, lower_this_thread
from tests.switch.support import example_config
from tests.waits import EVENT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="a nice value per thread is Linux's")

LOCAL0 = HostPort("127.0.0.1", 0)


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def _in_a_thread(work: Any) -> Any:
    """`work()`'s result and the nice value it left its thread at."""
    out: list[Any] = []
    worker = threading.Thread(
        target=lambda: out.append((work(), _nice(threading.get_native_id()))))
    worker.start()
    worker.join()
    return out[0]


def test_the_calling_thread_alone_is_lowered() -> None:
    mine, process = _nice(threading.get_native_id()), _nice(os.getpid())
    assert _in_a_thread(lower_this_thread) == (True, max(mine, BACKGROUND_NICENESS))
    assert _nice(threading.get_native_id()) == mine
    assert _nice(os.getpid()) == process


def test_a_thread_already_lower_stays_where_it_is() -> None:
    def work() -> bool:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 15)
        return lower_this_thread()
    assert _in_a_thread(work) == (True, max(15, _nice(threading.get_native_id())))


def test_a_refusal_is_logged_and_the_thread_runs_on(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def refuse(which: int, who: int, prio: int) -> None:
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "setpriority", refuse)
    with caplog.at_level(logging.WARNING, logger="lps.switch"):
        set_, nice = _in_a_thread(lambda: lower_this_thread(19))
    assert (set_, nice) == (False, _nice(threading.get_native_id())) and nice < 19
    assert "event=thread_priority_refused niceness=19" in caplog.text


def test_elsewhere_than_linux_nothing_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    def called(*_: int) -> None:
        raise AssertionError("setpriority would lower the whole process there")
    monkeypatch.setattr(os, "setpriority", called)
    monkeypatch.setattr(sys, "platform", "darwin")  # the module reads it when called
    assert lower_this_thread() is False


def test_a_serving_switch_lowers_its_checkpoint_thread_only(tmp_path: Path) -> None:
    base = _nice(threading.get_native_id())  # new threads start at their creator's
    before = {t.native_id for t in threading.enumerate()}

    def checkpoint_thread() -> threading.Thread | None:
        return next((t for t in threading.enumerate()
                     if t.name.startswith("lps-checkpoint")), None)

    async def main() -> dict[str, int]:
        cfg = example_config(tmp_path / "lps.db", listen_ascii=LOCAL0, listen_bcd=LOCAL0,
                             metrics=LOCAL0)
        sw = Switch(cfg)
        await sw.start()
        try:
            deadline = time.monotonic() + EVENT
            # The thread starts with the first checkpoint tick (a tenth of a second).
            while (found := checkpoint_thread()) is None or found.native_id is None:
                assert time.monotonic() < deadline, "no checkpoint thread"
                await asyncio.sleep(0.01)
            assert found.native_id is not None
            while _nice(found.native_id) < BACKGROUND_NICENESS:
                assert time.monotonic() < deadline, "the checkpoint thread never lowered"
                await asyncio.sleep(0.01)
            return {t.name: _nice(t.native_id) for t in threading.enumerate()
                    if t.native_id is not None and t.native_id not in before}
        finally:
            await sw.stop()

    started = asyncio.run(main())
    checkpoint = {name: nice for name, nice in started.items()
                  if name.startswith("lps-checkpoint")}
    assert set(checkpoint.values()) == {max(base, BACKGROUND_NICENESS)}
    assert {name: nice for name, nice in started.items() if name not in checkpoint} == \
        {name: base for name in started if name not in checkpoint}
    assert _nice(threading.get_native_id()) == base
