"""Waiting for pcscd: the moment between vpcd's port and pcscd's own client socket.

pcscd binds vpcd's TCP ports before its client socket, so whoever starts it can find the port
listening while PC/SC still answers "service not available". That moment is made here by
pointing a client at a socket path nobody serves (`PCSCLITE_CSOCK_NAME`, read by libpcsclite).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from terminal_agent.testing.services import vpcd_reader_listed

PROBE = "from terminal_agent.testing.services import vpcd_reader_listed as f; print(f())"


def test_no_pcsc_service_yet_is_not_ready_rather_than_an_error(tmp_path: Path) -> None:
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "pcscd.comm")}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "False\n", "")


def test_pcscd_serving_lists_the_vpcd_reader(pcscd: None) -> None:
    assert vpcd_reader_listed()
