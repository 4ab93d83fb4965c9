"""The console lists and serves a settled day's files by the names it finds in the day's own
directory, and only names of its own shape (`lps.console.settle.SAFE_NAME`): a name with a
newline after it is not one."""

from __future__ import annotations

from pathlib import Path

import pytest

from lps.console.settle import Day, SettleError, files, read_file


def test_only_names_of_the_files_shape_are_listed_and_served(tmp_path: Path) -> None:
    for name in ("positions.csv", "positions.csv\n", "run.json\n", "notes.txt", "Summary.html"):
        (tmp_path / name).write_bytes(b"x")
    day = Day("2026-12-05", "digest", str(tmp_path), "2026-12-06T00:10:00+00:00", 1, 0)
    assert files(day) == [("positions.csv", 1)]
    assert read_file(day, "positions.csv") == b"x"
    with pytest.raises(SettleError):
        read_file(day, "positions.csv\n")
