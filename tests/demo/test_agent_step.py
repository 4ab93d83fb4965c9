"""The agent step's reasons to skip, for machines without pcscd/vpcd (or without root).

These environments cannot be made here (pcscd and vpcd are installed, the tests run as root),
so the machine's facts are replaced: which pcscd, the vpcd driver file, the user id.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lps.demo import agent
from terminal_agent.testing import services


@pytest.fixture
def no_pcscd_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "port_user", lambda port: "free")


def skip_reason() -> str:
    with pytest.raises(agent.Skip) as caught, services.pcscd_with_vpcd():
        pytest.fail("the step ran")
    return str(caught.value)


def test_no_pcscd_installed(no_pcscd_running: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    assert skip_reason() == "pcscd is not installed (Debian: pcscd)"


def test_no_vpcd_driver(no_pcscd_running: None, monkeypatch: pytest.MonkeyPatch,
                        tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/sbin/pcscd")
    monkeypatch.setattr(services, "VPCD_CONF", tmp_path / "vpcd")
    assert "vsmartcard-vpcd" in skip_reason()


def test_pcscd_stopped_and_not_root(no_pcscd_running: None, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    conf = tmp_path / "vpcd"
    conf.write_text("DEVICENAME /dev/null:0x8C7B\n")
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/sbin/pcscd")
    monkeypatch.setattr(services, "VPCD_CONF", conf)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert skip_reason() == "pcscd is not running and starting it needs root"
