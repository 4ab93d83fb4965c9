"""`lps keys new-terminal` on a terminal that has a TMK: refused without --replace, and with it
the old and the new check values are printed and audited."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lps.console.db import console_path
from tests.security.support import lps, write_config
from tests.switch.support import T1


def tmk_kcv(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT tmk_kcv FROM terminal_keys WHERE terminal_id = ?",
                                (T1,)).fetchone()[0])


def test_a_terminal_with_a_key_needs_replace(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    db = tmp_path / "lps.db"
    code, out, err = lps("keys", "new-terminal", T1, "--config", str(cfg))
    assert code == 0, err
    first = tmk_kcv(db)
    assert f"check value {first}" in out

    code, out, err = lps("keys", "new-terminal", T1, "--config", str(cfg))
    assert code == 1 and out == ""
    assert err == (f"lps keys new-terminal: terminal {T1} has a terminal master key already "
                   f"(check value {first}); a new one replaces it and the terminal must then "
                   "load the new components: run again with --replace to do that\n")
    assert tmk_kcv(db) == first  # nothing changed

    code, out, err = lps("keys", "new-terminal", T1, "--replace", "--config", str(cfg))
    assert code == 0, err
    second = tmk_kcv(db)
    assert second != first
    assert out.splitlines()[:2] == [
        f"terminal {T1}: new terminal master key, check value {second}",
        f"  it replaces the key with check value {first}: until the terminal loads the new "
        "components its key exchange fails"]
    with sqlite3.connect(console_path(db)) as conn:  # the console's database keeps the log
        audited = conn.execute("SELECT before, after FROM audit_log WHERE action = "
                               "'keys.new-terminal' ORDER BY id").fetchall()
    assert audited == [(None, f'{{"tmk_kcv":"{first}"}}'),
                       (f'{{"tmk_kcv":"{first}"}}', f'{{"tmk_kcv":"{second}"}}')]


def test_persian_digits_in_a_terminal_id_are_read_as_ascii(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    code, out, err = lps("keys", "new-terminal", "T۰۰۰۰۰۰۱", "--config", str(cfg))
    assert code == 0, err
    assert out.startswith(f"terminal {T1}: new terminal master key")
