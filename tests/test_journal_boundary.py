"""The journal package is the one place that speaks SQL to the switch's database.

Outside `switch/journal`, no module of the product imports `sqlite3` or `apsw` (or opens the
switch's database any other way) and no string in its code is SQL over one of the switch's
tables, except the modules named in `OTHER_DATABASES`, each of which speaks to a database of
its own. The switch's tables are read from a database the journal has just made, not listed here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from switch.journal.sqlite.journal import SqliteJournal

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("iso8583", "switch", "hsm_sim", "settlement", "terminal_agent", "lps")
JOURNAL = ROOT / "switch" / "journal"

#: Modules that use SQLite for another database than the switch's, and which one.
OTHER_DATABASES = {
    "lps/console/db.py": "the console's own database (staff, sessions, audit log); reads an "
                         "older console's tables, never the switch's, from the switch's file "
                         "once, through the journal's read-only connect",
    "lps/console/auth.py": "the console's own database",
    "lps/console/sessions.py": "the console's own database (sessions, their card references)",
    "lps/console/cli_audit.py": "the console's own database (the audit log of CLI commands)",
    "lps/console/audit.py": "the console's own database",
    "lps/console/campaigns.py": "the console's own database",
    "lps/console/cards.py": "the console's own database (adjustments)",
    "lps/console/checker.py": "the console's own database (adjustments, replacements)",
    "lps/console/desk.py": "the console's own database (enrolment's audit row)",
    "lps/console/replacements.py": "the console's own database (card replacements)",
    "lps/console/web.py": "the console's own database",
    "lps/console/settle.py": "settlement's seal register",
    "settlement/seal.py": "settlement's seal register",
    "terminal_agent/store.py": "the terminal agent's store-and-forward database",
}


def modules() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if JOURNAL in path.parents:
                continue
            name = path.relative_to(ROOT).as_posix()
            yield name, ast.parse(path.read_text(encoding="utf-8"), name)


#: SQLite's drivers: the standard library's, and apsw (its own copy of SQLite, for reader
#: processes only: switch/journal/sqlite/apsw_reader.py).
DRIVERS = ("sqlite3", "apsw")


def imports_sqlite(tree: ast.Module, drivers: tuple[str, ...] = DRIVERS) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
                a.name.split(".")[0] in drivers for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in drivers:
            return True
    return False


def code_strings(tree: ast.Module) -> Iterator[str]:
    """The string constants of a module that are not docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.value


def switch_tables(tmp: Path) -> set[str]:
    journal = SqliteJournal(tmp / "lps.db")
    try:
        return {r[0] for r in journal.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        journal.close()


def test_the_exceptions_exist_and_speak_to_their_own_database() -> None:
    for name in OTHER_DATABASES:
        assert (ROOT / name).is_file(), f"{name} is gone: drop it from OTHER_DATABASES"


def test_only_the_journal_package_imports_sqlite3() -> None:
    found = [name for name, tree in modules()
             if imports_sqlite(tree) and name not in OTHER_DATABASES]
    assert found == [], ("modules outside switch/journal that import sqlite3 or apsw (reach the "
                         f"switch's database through switch.journal instead): {found}")


def test_only_the_scan_reader_imports_apsw() -> None:
    """apsw's copy of SQLite must never hold the switch's file open beside `sqlite3`'s in one
    process (switch/journal/sqlite/apsw_reader.py): one module opens it, for the processes
    that read through it alone."""
    found = sorted(path.relative_to(ROOT).as_posix() for package in PACKAGES
                   for path in (ROOT / package).rglob("*.py")
                   if imports_sqlite(ast.parse(path.read_text(encoding="utf-8")), ("apsw",)))
    assert found == ["switch/journal/sqlite/apsw_reader.py"]


def test_only_the_journal_package_builds_sql_over_the_switch_tables(tmp_path: Path) -> None:
    tables = switch_tables(tmp_path)
    assert {"journal", "lots", "lot_moves", "cards", "outbox", "verified"} <= tables
    sql = re.compile(r"\b(FROM|JOIN|INTO|UPDATE|TABLE(?: IF NOT EXISTS)?)\s+("
                     + "|".join(sorted(tables)) + r")\b", re.IGNORECASE)
    found = sorted({f"{name}: {m.group(0)!r}" for name, tree in modules()
                    if name not in OTHER_DATABASES
                    for text in code_strings(tree) for m in sql.finditer(text)})
    assert found == [], f"SQL over the switch's tables outside switch/journal: {found}"


def test_the_check_sees_what_it_looks_for(tmp_path: Path) -> None:
    """Both checks find a module that breaks the rule (they cannot pass by looking at
    nothing)."""
    tree = ast.parse('import sqlite3\nq = "SELECT pan FROM cards WHERE pan = ?"\n')
    assert imports_sqlite(tree)
    assert imports_sqlite(ast.parse("from apsw import Connection\n"), ("apsw",))
    assert not imports_sqlite(tree, ("apsw",))
    tables = switch_tables(tmp_path)
    assert any(re.search(rf"\bFROM\s+({'|'.join(tables)})\b", s) for s in code_strings(tree))
    names = [name for name, _ in modules()]
    assert "switch/server.py" in names and "settlement/journal.py" in names
    assert not any(name.startswith("switch/journal/") for name in names)
