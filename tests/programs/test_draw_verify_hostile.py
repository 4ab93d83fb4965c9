"""`lps draw-verify` on published files anyone may have written (docs/programs.md, "Prize
draws"): each file is read for exactly what `lps draw` writes there, and a file that is not
that is a problem reported (exit 1), never a traceback or a verifier that runs for ever."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lps.cli import main as lps_main
from lps.draw_cli import COMMITMENT, ENTRIES, RESULT, draw_seed
from switch.core.programs.draw import Entrant, commitment, draw, entries_digest

PEOPLE = [Entrant(f"628000******{i:04d}", i % 3 + 1) for i in range(10)]


def published(tmp_path: Path, *, entries: str | None = None, result: Any = None,
              commit: Any = None) -> Path:
    """A drawn directory as `lps draw` leaves it, with one file's content replaced."""
    seed = os.urandom(32)
    c = {"format": 1, "coalition": "tehran-mall", "date": "2026-12-01", "entries_by": "points",
         "winners": 2, "seed_sha256": commitment(seed), "beacon": None}
    r = {"format": 1, "seed": seed.hex(), "beacon_value": None,
         "entries_sha256": entries_digest(PEOPLE),
         "winners": [x.pan for x in draw(draw_seed(seed, None), PEOPLE, 2)]}
    if isinstance(commit, dict):
        c.update(commit)
    if isinstance(result, dict):
        r.update(result)
    (tmp_path / COMMITMENT).write_text(commit if isinstance(commit, str) else json.dumps(c))
    (tmp_path / RESULT).write_text(result if isinstance(result, str) else json.dumps(r))
    written = "label,entries\r\n" + "".join(f"{p.pan},{p.entries}\r\n" for p in PEOPLE)
    (tmp_path / ENTRIES).write_text(written if entries is None else entries)
    return tmp_path


def test_the_untouched_files_verify(tmp_path: Path) -> None:
    assert lps_main(["draw-verify", str(published(tmp_path))]) == 0


#: Each case: the file replaced, and the words of the problem reported. Before the files were
#: read for their shape, the value over the CSV limit, the negative count, the deep JSON, the
#: negative winners and the beacon value that is not text ended in a traceback, and a count of
#: 10^100 entries left the verifier sampling for ever.
CASES: list[tuple[dict[str, Any], str]] = [
    ({"entries": "label,entries\n" + "x" * 200_000 + ",1\n"}, "not CSV (field larger"),
    ({"entries": 'label,entries\n"A,1\n'}, "not CSV (unexpected end of data)"),
    ({"entries": "label,entries\nA,-5\n"}, "line 2: not a label and a count of entries"),
    ({"entries": "label,entries\nA,1" + "0" * 100 + "\n"}, "line 2: not a label and a count"),
    ({"entries": "label,entries\nA,۱\n"}, "line 2: not a label and a count"),
    ({"entries": "label,entries\nA\n"}, "line 2: not a label and a count"),
    ({"entries": "label,entries\nA,1,2\n"}, "line 2: not a label and a count"),
    ({"entries": "name,count\nA,1\n"}, "the first line is not label,entries"),
    ({"entries": ""}, "the first line is not label,entries"),
    ({"result": "[" * 100_000}, "nested too deep"),
    ({"commit": "[" * 100_000}, "nested too deep"),
    ({"result": "[1, 2]"}, "cannot be read"),
    ({"result": {"winners": 5}}, "winners is not a list of labels"),
    ({"result": {"winners": "ab"}}, "winners is not a list of labels"),
    ({"result": {"beacon_value": {"a": 1}}}, "beacon_value is neither text nor null"),
    ({"result": {"seed": 5}}, "cannot be read"),
    ({"commit": {"winners": -1}}, "not a count of 0 or more"),
    ({"commit": {"winners": 2.5}}, "not a count of 0 or more"),
    ({"commit": {"winners": True}}, "not a count of 0 or more"),
    ({"commit": {"beacon": 7}}, "beacon is neither text nor null"),
]


@pytest.mark.parametrize(("files", "words"), CASES)
def test_a_published_file_that_is_not_what_lps_draw_writes_is_a_problem(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, Any],
        words: str) -> None:
    assert lps_main(["draw-verify", str(published(tmp_path, **files))]) == 1
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err


def test_the_draw_refuses_a_pot_it_cannot_sample_fairly() -> None:
    """Rejection sampling on 256 bits rejects every block when the pot holds more than
    2^256 entries: refused, not a loop without end."""
    with pytest.raises(ValueError, match="2\\^256"):
        draw(b"\0" * 32, [Entrant("A", 1 << 256), Entrant("B", 1)], 1)
    assert draw(b"\0" * 32, [Entrant("A", 1 << 255), Entrant("B", 1 << 255)], 1)
