"""``lps-hsm``: init, kcv, new-key in-process; serve as a real subprocess."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hsm_sim import primitives as p
from hsm_sim.cli import main
from hsm_sim.client import TcpHsm
from hsm_sim.lmk import KeyType, load_lmk
from tests.waits import EVENT


def test_init_then_refuse_then_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lmk.json"
    assert main(["init", "--lmk", str(path)]) == 0
    out = capsys.readouterr().out
    assert load_lmk(path).check_value() in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    assert main(["init", "--lmk", str(path)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert main(["init", "--lmk", str(path), "--force"]) == 0
    assert path.read_bytes() != before


def test_kcv_of_clear_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kcv", "0123456789ABCDEFFEDCBA9876543210"]) == 0
    assert capsys.readouterr().out.strip() == "08D7B4"
    assert main(["kcv", "3F419E1CB7079442AA37474C2EFBF8B8", "--algorithm", "aes"]) == 0
    assert capsys.readouterr().out.strip() == "08793E"
    assert main(["kcv", "0123456789ABCDEFFEDCBA9876543210", "--length", "2"]) == 0
    assert capsys.readouterr().out.strip() == "08D7"
    assert main(["kcv", "xyz"]) == 2
    assert "hex" in capsys.readouterr().err


def test_new_key_and_kcv_under_lmk(lmk_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-key", "--lmk", str(lmk_path), "--type", "TMK", "--components"]) == 0
    out = capsys.readouterr().out
    key = re.search(r"TMK under LMK: (U[0-9A-F]{32})", out)
    kcv = re.search(r"KCV: ([0-9A-F]{6})", out)
    comps = re.findall(r"component \d: ([0-9A-F]{32})", out)
    assert key and kcv and len(comps) == 2
    clear = bytes(
        a ^ b for a, b in zip(bytes.fromhex(comps[0]), bytes.fromhex(comps[1]), strict=True)
    )
    assert load_lmk(lmk_path).unwrap(key.group(1), KeyType.TMK) == clear
    assert p.kcv(clear).hex().upper() == kcv.group(1)
    assert main(["kcv", key.group(1), "--lmk", str(lmk_path), "--type", "002"]) == 0
    assert capsys.readouterr().out.strip() == kcv.group(1)
    assert main(["kcv", key.group(1)]) == 2  # a key under the LMK needs --lmk and --type
    assert main(["kcv", key.group(1), "--lmk", str(lmk_path), "--type", "TAK"]) == 2
    assert "odd-parity TAK" in capsys.readouterr().err


def test_new_key_from_components(lmk_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["new-key", "--lmk", str(lmk_path), "--type", "BDK"]
    comps = ["--component", "0123456789ABCDEFFEDCBA9876543210", "--component", "00" * 16]
    assert main(args + comps) == 0
    assert "KCV: 08D7B4" in capsys.readouterr().out
    assert main([*args, "--component", "0123", "--component", "zz"]) == 2
    assert main(["new-key", "--lmk", str(lmk_path), "--type", "nope"]) == 2
    assert "unknown key type" in capsys.readouterr().err


def test_serve_refuses_a_world_readable_lmk(
    lmk_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.chmod(lmk_path, 0o644)
    assert main(["serve", "--lmk", str(lmk_path), "--listen", "127.0.0.1:0"]) == 2
    assert "must be 0600" in capsys.readouterr().err


def test_serve_rejects_a_bad_listen_address(lmk_path: Path) -> None:
    assert main(["serve", "--lmk", str(lmk_path), "--listen", "nowhere"]) == 2


def test_serve_as_a_subprocess(lmk_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hsm_sim.cli",
            "serve",
            "--lmk",
            str(lmk_path),
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the socket is bound
        match = re.search(r"listening on ([\d.]+):(\d+)", line)
        assert match, line
        with TcpHsm(match.group(1), int(match.group(2)), timeout=EVENT) as hsm:
            assert hsm.diagnostics() == load_lmk(lmk_path).check_value()
            key = hsm.generate_key("TAK")
            assert hsm.verify_mac(key.key_lmk, b"abc", hsm.generate_mac(key.key_lmk, b"abc"))
    finally:
        proc.terminate()
        proc.wait(timeout=EVENT)
    assert proc.returncode == 0  # SIGTERM is a clean stop


def test_init_makes_missing_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "var" / "hsm" / "lmk.json"
    assert main(["init", "--lmk", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0


def test_unwritable_location_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["init", "--lmk", str(blocker / "lmk.json")]) == 2
    assert "lps-hsm: error:" in capsys.readouterr().err
