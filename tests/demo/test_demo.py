"""`make demo` end to end, short: `python -m lps.demo --seconds 3` in its own process.

It checks the summary's key lines of every step (not figures that depend on timing), that no
full card number is printed, and that the settlement's files exist where the demo says. The
agent step needs pcscd with vpcd: it may be skipped locally, never under CI=true.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# The demo runs in 10-30 s; this only tells a hung demo from a slow machine (pytest's own
# timeout, pyproject.toml, stops a test after 300 s).
DEMO_DEADLINE = 240.0


def run_demo(*args: str, timeout: float = DEMO_DEADLINE, tmpdir: Path | None = None,
             ) -> subprocess.CompletedProcess[str]:
    env = None if tmpdir is None else {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.run([sys.executable, "-m", "lps.demo", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str],
                                                             Path, Path]:
    tmp = tmp_path_factory.mktemp("demo")
    db, out = tmp / "journal" / "lps.db", tmp / "settled"
    proc = run_demo("--seconds", "3", "--database", str(db), "--out", str(out))
    return proc, db, out


def section(stdout: str, number: int) -> str:
    """The text of step `number` (from its heading to the next one)."""
    parts = re.split(r"^=+\n(\d+)\. .*\n=+\n", stdout, flags=re.MULTILINE)
    sections = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    assert number in sections, stdout
    return sections[number]


def test_demo_runs_every_step(demo: tuple[subprocess.CompletedProcess[str], Path, Path]) -> None:
    proc, db, out = demo
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    text = proc.stdout
    programs = section(text, 1)
    assert "+ 50 birthday bonus" in programs, programs  # the example café's birthday_bonus
    assert re.search(r"redeem the stamp reward \(930000\) +-> 00", programs), programs
    assert "receipt: " in programs and "tier SILVER" in programs, programs
    assert programs.count(": in balance") == 2, programs
    macs = section(text, 2)
    assert re.search(r"key exchange \(0800/101\) +-> 00", macs), macs
    assert re.search(r"altered after the MAC .*-> 63", macs), macs
    before_after = re.search(r"balance (-?\d+) \(before the tampered redeem: (-?\d+)\)", macs)
    assert before_after and before_after.group(1) == before_after.group(2), macs
    assert "NOT verified" not in macs, macs
    traffic = section(text, 3)
    same = re.search(r"retransmissions answered byte-identical: (\d+)/(\d+)", traffic)
    assert same and same.group(1) == same.group(2), traffic
    assert "OUT OF BALANCE" not in traffic and "per terminal: T0000001 in balance" in traffic
    settle = section(text, 4)
    assert re.search(r"LPS settlement of business day \d{4}-\d\d-\d\d: sealed", settle), settle
    assert "netting removed" in settle and "OUT OF BALANCE" not in settle, settle
    report = re.search(r"^report: (.+)$", settle, flags=re.MULTILINE)
    assert report and Path(report.group(1)).parent.parent == out, settle
    assert re.fullmatch(r"\d{4}-\d\d-\d\d/report.html",
                        str(Path(report.group(1)).relative_to(out))), settle
    assert Path(report.group(1)).stat().st_size > 0
    assert text.startswith(f"LPS demo in {db.parent}: the directory you chose, kept\n")
    summary = section(text, 6)
    for step in ("programs", "MACs", "traffic", "settlement"):
        assert re.search(rf"^{step} +OK$", summary, flags=re.MULTILINE), summary
    agent = re.search(r"^agent +(.*)$", summary, flags=re.MULTILINE)
    assert agent, summary
    if os.environ.get("CI") == "true":  # CI installs pcscd and vpcd: a skip is a failure
        assert agent.group(1) == "OK", section(text, 5)
    else:
        assert agent.group(1) == "OK" or agent.group(1).startswith("skipped ("), summary
    if agent.group(1) == "OK":
        assert re.search(r"^agent -> register: RESP\|00\|", section(text, 5),
                         flags=re.MULTILINE), section(text, 5)
    assert "invariants (each card's lots = its journal; each lot = its moves): OK" in summary
    assert f"database {db}" in summary and db.exists()


def test_demo_prints_masked_card_numbers_only(
        demo: tuple[subprocess.CompletedProcess[str], Path, Path]) -> None:
    proc, db, _out = demo
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        pans = [row[0] for row in conn.execute("SELECT pan FROM cards")]
    finally:
        conn.close()
    assert len(pans) > 10
    assert re.findall(r"628000\*{6}\d{4}", proc.stdout), proc.stdout[-2000:]
    shown = [pan[-4:] for pan in pans if pan in proc.stdout]
    assert not shown, f"full card numbers (ending {shown}) in the demo's output"


def test_an_existing_database_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "lps.db"
    db.write_bytes(b"not a journal")
    proc = run_demo("--seconds", "1", "--database", str(db))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "exists" in proc.stderr
    assert db.read_bytes() == b"not a journal"


def test_a_passing_demo_removes_its_temporary_directory_and_says_so(tmp_path: Path) -> None:
    proc = run_demo("--seconds", "1", "--cards", "10", tmpdir=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    first = proc.stdout.splitlines()[0]
    made = re.fullmatch(r"LPS demo in (\S+): a temporary directory, removed at the end when "
                        r"every step passed \(--keep keeps it\), kept when one failed", first)
    assert made and Path(made.group(1)).parent == tmp_path, first
    assert proc.stdout.splitlines()[-1] == (f"removed {made.group(1)} (the demo's journal, "
                                            "settlement files and logs)")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("lps-demo-")]
    # Which pcscd the agent step used is said: one it started (and stopped), or the machine's.
    said = section(proc.stdout, 5).strip().splitlines()[0]
    assert said.startswith(("pcscd started (pid ", "pcscd: using the one already running",
                            "skipped: ")), said


def test_a_failing_demo_keeps_its_directory_and_says_where(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text((ROOT / "examples" / "lps.toml").read_text().replace(
        'timezone = "Asia/Tehran"', 'timezone = "Nowhere/Atlantis"'))
    proc = run_demo("--config", str(broken), "--seconds", "1", tmpdir=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("lps-demo-")]
    assert len(kept) == 1 and (kept[0] / "lps-demo.toml").exists()
    assert f"kept {kept[0]}: journal lps.db, settlement/, switch.log, agent/" in proc.stdout
    assert "switch.timezone" in proc.stderr
