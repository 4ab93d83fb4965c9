"""`lps keys` and `lps pin`: what they print, what they store, how they refuse."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hsm_sim import primitives as P
from hsm_sim.lmk import create_lmk_file
from switch.config import ConfigError
from tests.security.support import lps, new_terminal, running, write_config
from tests.switch.support import T1, card


def test_new_terminal_prints_components_and_stores_only_the_wrapped_key(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    code, out, err = lps("keys", "new-terminal", "T0000001", "--config", str(cfg))
    assert code == 0, err
    kcv = out.split("check value ")[1].split()[0]
    comps = [line.split()[2:10] for line in out.splitlines() if line.startswith("  component ")]
    clear = [bytes.fromhex("".join(c)) for c in comps]
    tmk = bytes(a ^ b for a, b in zip(*clear, strict=True))
    assert P.kcv(tmk).hex().upper() == kcv
    db = b"".join(p.read_bytes() for p in tmp_path.glob("lps.db*"))
    for secret in (tmk, *clear):
        assert secret.hex().upper().encode() not in db and secret not in db
    assert b"U" in db and kcv.encode() in db


def test_refusals(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    code, _, err = lps("keys", "new-terminal", "T9", "--config", str(cfg))
    assert code == 1 and "unknown terminal 'T9'" in err
    code, _, err = lps("pin", "set", card(1), "--config", str(cfg), stdin="1234\n")
    assert code == 1 and "no switch database" in err  # nothing is created for a refusal
    assert lps("cards", "enroll", card(2), "--config", str(cfg))[0] == 0
    code, _, err = lps("pin", "set", card(1), "--config", str(cfg), stdin="1234\n")
    assert code == 1 and "not enrolled" in err
    code, _, err = lps("pin", "reset", "1234", "--config", str(cfg))
    assert code == 3 and "13-19 digits" in err  # not a card number: bad input (docs/cli.md)
    code, _, err = lps("keys", "load-bdk", T1, "--config", str(cfg), stdin="00\n")
    assert code == 1 and "two components" in err


def test_lost_or_wrong_lmk_is_refused(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    new_terminal(cfg, T1)
    lmk = tmp_path / "lmk.json"
    lmk.unlink()
    code, _, err = lps("keys", "new-terminal", T1, "--replace", "--config", str(cfg))
    assert code == 2 and "switch.lmk" in err and "is missing" in err

    async def start() -> None:
        async with running(cfg):
            pass

    with pytest.raises(ConfigError, match="is missing"):
        asyncio.run(start())
    create_lmk_file(lmk)  # another LMK: the stored TMK does not unwrap under it
    with pytest.raises(ConfigError, match="does not unwrap the stored keys"):
        asyncio.run(start())


def test_load_bdk_in_groups_and_show(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    new_terminal(cfg, T1)
    bdk = "0123 4567 89AB CDEF FEDC BA98 7654 3210\n" + "0000 " * 8 + "\n"
    code, out, err = lps("keys", "load-bdk", "T0000002", "T0000003", "--config", str(cfg),
                         stdin=bdk)
    assert code == 0, err
    assert "BDK check value 08D7B4" in out  # the KCV of the X9.24 test BDK
    code, out, err = lps("keys", "show", "--config", str(cfg))
    assert code == 0, err
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["T0000001"][2] != "-" and lines["T0000001"][3:6] == ["-", "-", "-"]
    assert lines["T0000002"][2:6] == ["-", "-", "-", "08D7B4"]
    assert lines["T0000003"][5] == "08D7B4"
