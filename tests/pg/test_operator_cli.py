"""The operators' commands on PostgreSQL: `lps settle`, `lps report`, `lps club` and
`lps check --full` read the configured PostgreSQL journal in place and say, and seal, the same
as on SQLite for the same traffic; their own files (the register of sealed days, the audit log
in the console's database) go to `[switch] state_dir` (docs/deploy.md, "The switch on
PostgreSQL")."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lps.cli import main as lps_main
from lps.console import audit
from lps.console.db import console_path, open_console
from settlement.seal import Register, default_register
from switch.core.luhn import luhn_complete
from tests.engines import toml_settings
from tests.pg.simulated import Both
from tests.settlement.simulation import EXAMPLE
from tests.waits import EVENT

ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class Node:
    """A configuration file naming one engine's journal, and the node's own directory."""

    engine: str
    config: Path
    local: Path  # `[switch] database` as the node's files see it

    def lps(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        """The real `lps` entry point on this node's configuration: exit code, out, err."""
        capsys.readouterr()
        rc = lps_main([*args, "--config", str(self.config)])
        out, err = capsys.readouterr()
        return rc, out, err


def _node(root: Path, engine: str, settings: dict[str, object]) -> Node:
    root.mkdir()
    config = root / "lps.toml"
    config.write_text(re.sub(r'(?m)^database = "var/lps.db".*\n', toml_settings(settings),
                             EXAMPLE.read_text(), count=1))
    local = settings["database"]
    assert isinstance(local, Path)
    return Node(engine, config, local)


@pytest.fixture(scope="module")
def nodes(both: Both, tmp_path_factory: pytest.TempPathFactory) -> tuple[Node, Node]:
    """The simulation's days behind two configurations: a copy of the SQLite file, and the
    PostgreSQL database with a state_dir of its own."""
    sqlite_path, _, url, _ = both
    root = tmp_path_factory.mktemp("operators")
    lite = root / "sqlite" / "lps.db"
    lite.parent.mkdir()
    with sqlite3.connect(sqlite_path) as src, sqlite3.connect(lite) as dst:
        src.backup(dst)
    lite.chmod(0o600)  # the switch's database is 0600 (switch/filemode.py)
    state_dir = root / "pg-node"
    return (_node(root / "sqlite-conf", "sqlite", {"database": lite}),
            _node(root / "pg-conf", "postgresql",
                  {"database": state_dir / "lps.db", "journal_url": url}))


def _same(text: str, node: Node, out: Path) -> str:
    """A command's words without what differs by construction: paths and seconds."""
    return re.sub(r"\(\d+\.\d s\)", "(s)", text.replace(str(out), "OUT"))


def test_settle_seals_the_same_files_on_both_and_keeps_its_own_files_in_state_dir(
        both: Both, nodes: tuple[Node, Node], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a URL taken for a path would make files here
    _, sim, url, _ = both
    lite, pg = nodes
    for day in sim.days:
        said, sealed = [], []
        for node in nodes:
            out = tmp_path / node.engine
            rc, text, err = node.lps(capsys, "settle", "--date", day.isoformat(),
                                     "--out", str(out), "--no-progress")
            assert (rc, err) == (0, ""), err
            said.append(_same(text, node, out))
            sealed.append({p.name: p.read_bytes() for p in sorted((out / str(day)).iterdir())})
        assert said[0] == said[1]
        assert sealed[0] == sealed[1] and sealed[0]
    # The node's own files are in state_dir: the register and the audit log of each run.
    register = Register(default_register(pg.local))
    try:
        assert [register.get(d.isoformat()) is not None for d in sim.days] == \
            [True] * len(sim.days)
    finally:
        register.close()
    conn = open_console(pg.local)
    try:
        actions = [(r.action, r.target) for r in audit.rows(conn)]
    finally:
        conn.close()
    assert sorted(actions) == sorted(("settle.run", f"settlement:{d}") for d in sim.days)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["postgresql", "sqlite"]
    assert url not in console_path(pg.local).read_bytes().decode("utf-8", "replace")
    # The real command in a process of its own: the sealed day again, identical.
    first = sim.days[0].isoformat()
    proc = subprocess.run(
        [sys.executable, "-m", "lps.cli", "settle", "--config", str(pg.config), "--date", first,
         "--out", str(tmp_path / "postgresql"), "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=EVENT * 4, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"business day {first}: identical to the sealed run" in proc.stdout
    assert lite.local.exists() and not pg.local.exists()  # no SQLite journal made on PG


def test_report_gives_the_same_figures_on_both(
        both: Both, nodes: tuple[Node, Node], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, sim, _, _ = both
    first, last = min(sim.days).isoformat(), max(sim.days).isoformat()
    said, files = [], []
    for node in nodes:
        csv, page = tmp_path / f"{node.engine}.csv", tmp_path / f"{node.engine}.html"
        rc, text, err = node.lps(capsys, "report", "--from", first, "--to", last,
                                 "--csv", str(csv), "--html", str(page))
        assert (rc, err) == (0, ""), err
        said.append(text)
        files.append((csv.read_bytes(), page.read_bytes()))
    assert said[0] == said[1] and "STORE0000000001" in said[0]
    assert files[0] == files[1]


def test_club_and_check_full_say_the_same_on_both(
        nodes: tuple[Node, Node], capsys: pytest.CaptureFixture[str]) -> None:
    pans = [luhn_complete(f"628000{n:09d}") for n in (1, 2, 3)]
    for pan in pans:
        club = [node.lps(capsys, "club", pan) for node in nodes]
        assert club[0] == club[1] and club[0][0] == 0, club
        assert "coalition tehran-mall" in club[0][1]
    checked = []
    for node in nodes:
        rc, text, err = node.lps(capsys, "check", "--full")
        assert (rc, err) == (0, ""), err
        checked.append(re.sub(r"\(\d+\.\d s\)", "(s)", text))
    assert checked[0] == checked[1] and checked[0].endswith(": ok (s)\n")


def test_coupons_are_issued_shown_and_voided_in_the_postgresql_journal(
        pg_journal_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With the switch stopped `lps coupons` writes the configured journal: the codes' digests
    are in PostgreSQL, no SQLite journal appears in state_dir, the void is audited there."""
    import csv

    from tests.engines import query
    from tests.switch.test_crash import write_config

    local = tmp_path / "lps.db"
    config, _ = write_config(tmp_path, {"database": local, "journal_url": pg_journal_url})
    node = Node("postgresql", config, local)
    out = tmp_path / "codes.csv"
    rc, _, err = node.lps(capsys, "coupons", "issue", "--store", "STORE0000000002",
                          "--amount", "1000", "--count", "5", "--expires", "2099-01-01",
                          "--out", str(out))
    assert (rc, err) == (0, ""), err
    codes = [r["code"] for r in csv.DictReader(out.open(encoding="utf-8"))]
    assert len(set(codes)) == 5
    assert query(pg_journal_url, "SELECT COUNT(*) FROM coupon_issues") == [(1,)]
    rc, shown, _ = node.lps(capsys, "coupons", "show", codes[2])
    assert rc == 0 and "status     active" in shown
    assert node.lps(capsys, "coupons", "void", codes[2], "--by", "ops")[0] == 0
    rc, shown, _ = node.lps(capsys, "coupons", "show", codes[2])
    assert rc == 0 and "status     void" in shown
    assert not local.exists()
    conn = open_console(local)
    try:
        assert [r.action for r in audit.rows(conn)].count("coupons.void") == 1
    finally:
        conn.close()
