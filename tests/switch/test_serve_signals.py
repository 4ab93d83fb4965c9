"""`lps serve` and a SIGTERM that comes while the switch starts: it already listens, and its
start has steps left (the admin socket, metrics). The signal must stop it gracefully once it
has started (exit 0), not end it by the default action (docs/cli.md, exit codes)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.switch.support import ROOT
from tests.switch.test_crash import write_config
from tests.waits import EVENT

#: `lps serve` whose start is held at its admin socket, after the TCP listener: it says
#: "listening" there and goes on when a line comes on its stdin.
_HELD_AT_THE_ADMIN_SOCKET = """
import asyncio, sys
import lps.cli

real = asyncio.start_unix_server

async def held(*args, **kwargs):
    print("listening", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return await real(*args, **kwargs)

asyncio.start_unix_server = held
sys.exit(lps.cli.main(["serve", "--config", sys.argv[1], "--log-level", "WARNING"]))
"""


def test_a_sigterm_while_the_switch_starts_stops_it_once_started(tmp_path: Path) -> None:
    config, _ = write_config(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", _HELD_AT_THE_ADMIN_SOCKET, str(config)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        assert proc.stdout.readline() == b"listening\n", proc.stderr.read().decode()
        proc.send_signal(signal.SIGTERM)
        proc.stdin.write(b"go on\n")
        proc.stdin.flush()
        assert proc.wait(EVENT) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(EVENT)
