"""The switch's database is its owner's alone: created mode 0600, refused when wider.

It holds full card numbers and the terminals' keys under the LMK (docs/security.md), so, like
hsm_sim's `lmk.json`, it is created mode 0600 and never opened when group or others may read or
write it; the refusal is one line naming the `chmod` that mends it. The operators' console keeps
its tables in the same file.

SQLite creates the `-wal` and `-shm` files (and a rollback `-journal`) with the database file's
mode; the umask is narrowed to 0177 while a new database and its first WAL are created anyway,
then every file is set to 0600 (a umask can only narrow, never widen), and all of them are
checked after each connection is opened.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

PRIVATE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")
#: The umask is the process's: one creation at a time sets and restores it.
_UMASK_LOCK = threading.Lock()


def database_files(path: Path) -> list[Path]:
    """The database file and those of its WAL, shared-memory and rollback files that exist."""
    side = [path.with_name(path.name + suffix) for suffix in SIDE_FILES]
    return [path, *(p for p in side if p.exists())]


def _loose(path: Path) -> int | None:
    """The mode of `path` when group or others have any right to it, else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    return mode if mode & 0o077 else None


SWITCH_HOLDS = "the switch's database holds card numbers and keys"


def check_private(path: str | os.PathLike[str], error: Callable[[str], Exception],
                  holds: str = SWITCH_HOLDS) -> None:
    """Raise `error(one line)` when a file of the database may be used by group or others;
    `holds` says what the file keeps that makes it private."""
    files = database_files(Path(path))
    loose = [(p, mode) for p in files if (mode := _loose(p)) is not None]
    if loose:
        first, mode = loose[0]
        raise error(f"{first} has mode {mode:04o}; {holds} and must be 0600 "
                    f"(chmod 600 {' '.join(str(p) for p in files)})")


@contextlib.contextmanager
def private_database(path: str | os.PathLike[str], error: Callable[[str], Exception],
                     holds: str = SWITCH_HOLDS) -> Iterator[None]:
    """Around opening a read-write connection to `path`: a new database (and the files SQLite
    makes for it inside the block) is created 0600; an existing one must be 0600 already."""
    path = Path(path)
    if path.exists():
        check_private(path, error, holds)
        yield
        check_private(path, error, holds)  # a -wal or -shm made by someone else's connection
        return
    with _UMASK_LOCK:
        old = os.umask(0o177)
        try:
            with contextlib.suppress(FileExistsError):  # another process won the race
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
            yield
        finally:
            os.umask(old)
    for created in database_files(path):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if _loose(created) is not None and created.stat().st_uid == os.getuid():
                created.chmod(PRIVATE)
    check_private(path, error, holds)
