"""The SQLite outbox: ordering, STANs, atomic replace, and surviving kill -9."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from terminal_agent.store import Outbox


def test_stan_sequence_and_wrap(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    assert [box.next_stan() for _ in range(3)] == ["000001", "000002", "000003"]
    box.db.execute("UPDATE meta SET value='999999' WHERE key='stan'")
    assert box.next_stan() == "000001"


def test_entries_ordered_and_repeats(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    a = box.add("advice", "0220", {2: "6280001234567895", 4: "000000001000", 52: b"\x01\x02"},
                {"invoice": "A"})
    b = box.add("advice", "0220", {2: "6280001234567895", 4: "000000002000"}, {"invoice": "B"})
    got = box.entries("advice")
    assert [e.id for e in got] == [a.id, b.id]
    assert got[0].fields[52] == b"\x01\x02" and got[0].fields[11] == a.fields[11]
    assert got[0].wire_mti == "0220"
    box.bump(a.id)
    assert box.entries("advice")[0].wire_mti == "0221"
    inflight = box.add("inflight", "0200", {2: "x"}, {})
    (rev,) = box.replace(inflight.id, [("reversal", "0400", {2: "x"}, {})])
    assert box.count("inflight") == 0 and box.entries("reversal")[0].id == rev.id
    box.bump(rev.id)
    assert box.entries("reversal")[0].wire_mti == "0401"
    box.remove(a.id)
    assert [e.fields[4] for e in box.entries("advice")] == ["000000002000"]
    box.set_context(rev.id, {"switch": "a:1", "not_found_on": ["b:2"]})
    assert box.entries("reversal")[0].context == {"switch": "a:1", "not_found_on": ["b:2"]}


def test_survives_kill_9(tmp_path: Path) -> None:
    """A child adds entries and is killed without any cleanup; all committed work remains."""
    code = textwrap.dedent(f"""
        import os, signal, sys
        from terminal_agent.store import Outbox
        box = Outbox({str(tmp_path)!r})
        for i in range(50):
            box.add("advice", "0220", {{4: str(i).zfill(12)}}, {{}})
        sys.stdout.write("done\\n"); sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -9 and proc.stdout == "done\n"
    box = Outbox(tmp_path)
    got = box.entries("advice")
    assert [int(e.fields[4]) for e in got] == list(range(50))
    assert len({e.fields[11] for e in got}) == 50
    assert box.next_stan() == "000051"
