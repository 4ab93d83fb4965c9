"""The group commit in a process of its own (docs/switch.md, "The commit process"): what it
commits, how it fails, and that it never outlives its switch or lets a second one in."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from iso8583.loyalty import parse_de54
from switch.config import Config
from switch.core import handle
from switch.core.entries import Entry
from switch.core.state import State
from switch.journal import JournalError
from switch.journal.batch import BatchRows
from switch.journal.errors import RecoveryError
from switch.journal.sqlite import committer as committer_module
from switch.journal.sqlite.committer import CommitProcess, read_message, write_message
from switch.journal.sqlite.journal import SqliteJournal
from switch.server import (
    Switch,
    admin_socket_path,
    database_in_use,
    release_lock,
    take_lock,
)
from tests.switch.support import (
    NOW,
    ROOT,
    T1,
    PatientClient,
    burn,
    card,
    dismantle,
    earn,
    example_config,
    request,
    sign_on,
)
from tests.switch.test_crash import start, write_config
from tests.switch.test_server import LOCAL0, signed_on
from tests.waits import EVENT, START

PAN = card(41)


def _state(pid: int) -> str | None:
    """`pid`'s state letter in /proc (R, S, T for stopped, Z for a zombie); None: no such."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return None


def _ignores(pid: int, sig: int) -> bool:
    """Whether `pid` ignores `sig` (its SigIgn mask in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(int(mask, 16) >> (sig - 1) & 1)


def _until(happened: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + EVENT
    while not happened():
        assert time.monotonic() < deadline, f"{what}: not after {EVENT:g} s"
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent counts as gone)."""
    return _state(pid) not in (None, "Z")


def _gone(pid: int) -> None:
    _until(lambda: not _alive(pid), f"process {pid} gone")


def _running_children(pid: int) -> set[int]:
    """`pid`'s running child processes, whichever of its threads started them."""
    return {c for t in Path(f"/proc/{pid}/task").iterdir()
            for c in map(int, (t / "children").read_text().split()) if _alive(c)}


def _children(pid: int) -> list[int]:
    """`pid`'s running commit processes."""
    return [c for c in _running_children(pid)
            if b"switch.journal.sqlite.commit_child" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _ignoring(pid: int, *signals: int) -> None:
    """Wait until `pid` ignores `signals` (it sets that up as it starts)."""
    wanted = sum(1 << (s - 1) for s in signals)
    deadline = time.monotonic() + EVENT
    while True:
        status = Path(f"/proc/{pid}/status").read_text()
        ignored = int(next(line.split()[1] for line in status.splitlines()
                           if line.startswith("SigIgn:")), 16)
        if ignored & wanted == wanted:
            return
        assert time.monotonic() < deadline, f"process {pid} does not ignore {signals}"
        time.sleep(0.01)


def _points(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE pan = ?",
                                (PAN,)).fetchone()[0])


def test_messages_are_length_prefixed_and_a_torn_one_is_refused() -> None:
    buf = io.BytesIO()
    write_message(buf, b"abc")
    write_message(buf, b"")
    assert buf.getvalue() == b"\x00\x00\x00\x03abc\x00\x00\x00\x00"
    buf.seek(0)
    assert (read_message(buf), read_message(buf), read_message(buf)) == (b"abc", b"", None)
    with pytest.raises(EOFError):
        read_message(io.BytesIO(b"\x00\x00"))
    with pytest.raises(EOFError):
        read_message(io.BytesIO(b"\x00\x00\x00\x05abc"))
    with pytest.raises(ValueError, match="bytes"):
        read_message(io.BytesIO(b"\x7f\xff\xff\xff"))


def _speaking(tmp_path: Path, answer: bytes, *, slow: bool = False,
              split: int = 0) -> CommitProcess:
    """A `CommitProcess` whose child says it is ready, reads one request and answers
    `answer` (raw bytes); `slow`: it waits a moment before it reads, so that the request
    fills the pipe first; `split`: it writes the answer's first `split` bytes, waits a
    moment, then the rest (when that is seen as one read or two changes nothing)."""
    ready = b'\x00\x00\x00\x0f{"ready": true}'
    script = (f"import sys, time; sys.stdout.buffer.write({ready!r}); sys.stdout.flush(); "
              f"time.sleep({0.2 if slow else 0}); head = sys.stdin.buffer.read(4); "
              "sys.stdin.buffer.read(int.from_bytes(head, 'big')); "
              f"sys.stdout.buffer.write({answer[:split]!r}); sys.stdout.flush(); "
              f"time.sleep({0.1 if split else 0}); "
              f"sys.stdout.buffer.write({answer[split:]!r}); sys.stdout.flush()")
    return CommitProcess(tmp_path / "lps.db", argv=[sys.executable, "-c", script])


def _framed(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


async def _commit_on_loop(committer: CommitProcess, rows: BatchRows) -> tuple[float, bool]:
    """One batch through the loop's side of the pipe (`watch`, `send_nowait`), as the
    writer sends them: the child's first answer, or the `JournalError` that ended them."""
    answer: asyncio.Future[tuple[float, bool, int]] = \
        asyncio.get_running_loop().create_future()

    def answered(outcome: tuple[float, bool, int] | JournalError) -> None:
        if answer.done():  # the stand-in child ends after its answer: that end comes next
            return
        if isinstance(outcome, JournalError):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)

    committer.watch(asyncio.get_running_loop(), answered)
    committer.send_nowait(rows, [], None)
    return committer._alone(await answer)


@pytest.mark.parametrize(("answer", "error"), [
    (_framed(b"abc"), "answered b'abc'"),
    (_framed(b"[]"), r"answered b'\[\]'"),
    (_framed(b'{"cpu": "x"}'), "answered {'cpu': 'x'}"),
    (_framed(b'{"cpu": 0.1}'), "answered {'cpu': 0.1}"),  # no word on the advance
    # how many batches it committed: none, a word, a flag, or more than were sent
    (_framed(b'{"cpu": 0.1, "advance_failed": false}'), "answered {'cpu'"),
    (_framed(b'{"cpu": 0.1, "advance_failed": false, "batches": 0}'), "'batches': 0}"),
    (_framed(b'{"cpu": 0.1, "advance_failed": false, "batches": "1"}'), "'batches': '1'}"),
    (_framed(b'{"cpu": 0.1, "advance_failed": false, "batches": true}'), "'batches': True}"),
    (_framed(b'{"cpu": 0.1, "advance_failed": false, "batches": 2}'),
     "answered for 2 batches, 1 was sent"),
    (_framed(b'{"error": "boom"}'), "^boom$"),
    (b"\x7f\xff\xff\xff", "answered a message of 2147483647 bytes"),
    (_framed(b'{"cpu": 0.1, "advance_failed": false, "batches": 1}')[:-3],
     r"ended \(exit 0\) before"),
    (b"", r"ended \(exit 0\) before answering"),
])
@pytest.mark.parametrize("on_loop", [False, True], ids=["thread", "loop"])
def test_an_answer_that_is_not_one_stops_the_commit(tmp_path: Path, answer: bytes,
                                                    error: str, on_loop: bool) -> None:
    committer = _speaking(tmp_path, answer)
    with pytest.raises(JournalError, match=error):
        if on_loop:
            asyncio.run(_commit_on_loop(committer, BatchRows()))
        else:
            committer.commit(BatchRows(), [], None)
    committer.close()


@pytest.mark.parametrize("split", [2, 10, 30])
def test_an_answer_that_arrives_in_pieces_is_read_whole_on_the_loop(tmp_path: Path,
                                                                     split: int) -> None:
    """The loop's reader wakes the commit at each piece; it waits again until it has all."""
    committer = _speaking(tmp_path, _framed(b'{"cpu": 0.25, "advance_failed": true, "batches": 1}'),
                          split=split)
    answer = asyncio.run(asyncio.wait_for(_commit_on_loop(committer, BatchRows()),
                                          EVENT))
    assert answer == (0.25, True)
    committer.close()


def test_a_batch_larger_than_the_pipe_reaches_the_child_whole_from_the_loop(
        tmp_path: Path) -> None:
    """A pipe holds 64 KB: the loop writes the rest as the child reads (`add_writer`)."""
    committer = _speaking(tmp_path, _framed(b'{"cpu": 0.5, "advance_failed": false, "batches": 1}'),
                          slow=True)
    rows = BatchRows(journal=[(f"{i:06d}" + "x" * 1000, i) for i in range(2000)])  # 2 MB
    answer = asyncio.run(asyncio.wait_for(_commit_on_loop(committer, rows), EVENT))
    assert answer == (0.5, False)
    committer.close()
    assert committer.proc.returncode == 0  # it read the whole request, then answered


def _saying(raw: bytes, then: str = "sys.stdin.buffer.read()") -> str:
    """A stand-in child's script: it writes `raw`, then runs `then` (by default it waits for
    its pipe's end)."""
    return f"import sys; sys.stdout.buffer.write({raw!r}); sys.stdout.flush(); {then}"


@pytest.mark.parametrize(("script", "error"), [
    ("import sys; sys.exit(4)", r"ended \(exit 4\) before it opened the database"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
     r"ended \(killed by SIGKILL\) before it opened the database"),
    (_saying(_framed(b'{"ready": true}')[:-3], then="sys.exit(0)"),  # torn in its message
     r"ended \(exit 0\) before it opened the database"),
    (_saying(_framed(b'{"ready": false}')), "answered {'ready': False} where it says"),
    (_saying(_framed(b'{"ready": 1}')), "answered {'ready': 1} where it says"),
    (_saying(_framed(b'{"cpu": 0.1, "advance_failed": false, "batches": 1}')),
     "answered {'cpu': 0.1, "),
    (_saying(_framed(b'{"error": "boom"}')), "answered {'error': 'boom'} where it says"),
    (_saying(_framed(b"abc")), "answered b'abc' where it says"),
    (_saying(b"\x7f\xff\xff\xff"), "answered a message of 2147483647 bytes"),
], ids=["exit", "killed", "torn", "not-ready", "one", "a-commit", "error", "not-json", "huge"])
def test_a_child_that_does_not_say_ready_refuses_the_start(tmp_path: Path, script: str,
                                                          error: str) -> None:
    """Its end or its first word other than ready is the start's failure, not a batch's."""
    committer = CommitProcess(tmp_path / "lps.db", argv=[sys.executable, "-c", script])
    with pytest.raises(JournalError, match=error) as info:
        committer.ready()
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'lps.db'}: the commit process ")
    assert message.endswith(": the switch did not start")
    assert "durable" not in message
    committer.close()  # a stand-in still waiting ends with its pipe
    assert committer.proc.returncode is not None


def test_a_child_that_says_nothing_refuses_the_start_after_the_wait(tmp_path: Path) -> None:
    """The bound itself, short here on purpose: this stand-in never writes."""
    committer = CommitProcess(tmp_path / "lps.db",
                              argv=[sys.executable, "-c", "import sys; sys.stdin.buffer.read()"])
    with pytest.raises(JournalError, match=r"did not say it opened the database within "
                                           r"0\.2 s .*: the switch did not start$"):
        committer.ready(wait=0.2)
    assert committer.proc.poll() is None  # it waits for its pipe's end, which `close` brings
    committer.close()
    assert committer.proc.returncode == 0


@pytest.mark.parametrize("on_loop", [False, True], ids=["thread", "loop"])
def test_once_ready_the_first_answer_read_is_the_commits(tmp_path: Path, on_loop: bool) -> None:
    """After `ready` neither `commit` nor the loop's reader waits for a ready again."""
    committer = _speaking(tmp_path, _framed(b'{"cpu": 0.25, "advance_failed": true, "batches": 1}'))
    committer.ready()
    committer.ready()  # once ready, at once: nothing more is read
    if on_loop:
        answer = asyncio.run(asyncio.wait_for(_commit_on_loop(committer, BatchRows()), EVENT))
    else:
        answer = committer.commit(BatchRows(), [], None)
    assert answer == (0.25, True)
    committer.close()


def _earned_once(tmp_path: Path) -> tuple[SqliteJournal, State, list[Entry]]:
    """A journal with a commit process, a terminal signed on and one earn committed by it."""
    store = SqliteJournal(tmp_path / "lps.db")
    store.start_commit_process()
    state = store.load(example_config(tmp_path / "lps.db"), None, NOW)
    entries = [e for msg in (sign_on(T1), earn(T1, 1, PAN, 100_000))
               for e in handle(state, msg, NOW).entries]
    store.append(entries)
    return store, state, entries


def test_the_child_commits_the_batch_and_its_checkpoint_advance(tmp_path: Path) -> None:
    store, state, entries = _earned_once(tmp_path)
    assert store.commit_process_cpu > 0
    assert _points(tmp_path / "lps.db") == 10
    # The checkpoint's advance rides in the next batch, committed by the child.
    upto = max(e.id for e in entries)
    store._pending = (0, upto)
    store.append(handle(state, earn(T1, 2, PAN, 100_000), NOW).entries)
    assert store.verified_upto() == upto and not store._verify_failed
    store.close()


def test_an_advance_the_child_cannot_write_costs_the_advance_not_the_batch(
        tmp_path: Path) -> None:
    store, state, first = _earned_once(tmp_path)
    with sqlite3.connect(tmp_path / "lps.db") as conn:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON verified_cards "
                     "BEGIN SELECT RAISE(ABORT, 'no advance'); END")
    store._pending = (0, max(e.id for e in first))
    store.append(handle(state, earn(T1, 2, PAN, 100_000), NOW).entries)
    assert store._verify_failed  # the child said so; start-up checks those rows again
    assert store.verified_upto() == 0
    assert _points(tmp_path / "lps.db") == 20  # the batch itself committed
    store.close()


def test_the_child_holds_the_switch_lock_until_it_ends(tmp_path: Path) -> None:
    db = tmp_path / "lps.db"
    fd = take_lock(db)
    store = SqliteJournal(db)
    store.start_commit_process(keep_fds=(fd,))
    child = store._committer
    assert child is not None
    release_lock(fd)
    assert database_in_use(db)  # the child's copy of the lock file keeps it
    with pytest.raises(JournalError, match="another switch"):
        take_lock(db)
    store.close()
    _gone(child.proc.pid)
    assert not database_in_use(db)


def test_a_commit_process_that_dies_stops_the_switch_and_a_restart_recovers(
        tmp_path: Path) -> None:
    cfg = example_config(tmp_path / "lps.db", listen_ascii=LOCAL0, listen_bcd=LOCAL0,
                         metrics=LOCAL0)

    async def serve_until_the_child_dies() -> None:
        sw = Switch(cfg)
        await sw.start()
        c = await signed_on(sw, "ascii", T1)
        r = await c.send(earn(T1, 2, PAN, 100_000))
        assert parse_de54(str(r[54]))[0].amount == 10
        assert isinstance(sw.journal, SqliteJournal) and sw.journal._committer is not None
        child = sw.journal._committer.proc.pid
        assert child in _children(os.getpid())
        os.kill(child, signal.SIGKILL)
        _gone(child)
        fut = c.send_nowait(burn(T1, 3, PAN, 5_000))
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(fut, EVENT)  # no answer: its commit's fate is unknown
        await asyncio.wait_for(sw.stopped.wait(), EVENT)
        assert sw.failure is not None and "commit process ended" in sw.failure
        await c.close()
        await dismantle(sw)

    asyncio.run(serve_until_the_child_dies())
    assert _points(tmp_path / "lps.db") == 10  # the burn never reached the journal

    async def restart() -> None:
        sw = Switch(cfg)
        await sw.start()
        c = await signed_on(sw, "ascii", T1)
        r = await c.send(burn(T1, 5, PAN, 5_000))
        assert r[39] == "00" and parse_de54(str(r[54]))[0].amount == 5
        await c.close()
        await sw.stop()

    asyncio.run(restart())
    assert _points(tmp_path / "lps.db") == 5


def test_a_killed_switch_takes_its_commit_process_along(tmp_path: Path) -> None:
    """The child dies with the switch even when it could not notice the pipe's end: stopped
    here (SIGSTOP), as a child stuck in a commit would be, only the kernel's SIGKILL on its
    parent's death (PR_SET_PDEATHSIG) ends it. It is stopped once it serves: it arms that
    signal first, then ignores SIGTERM (`commit_child.serve`)."""
    config, port = write_config(tmp_path)
    proc = start(config, port)
    child = 0
    try:
        (child,) = _children(proc.pid)
        _until(lambda: _ignores(child, signal.SIGTERM), "the commit process serving")
        os.kill(child, signal.SIGSTOP)
        _until(lambda: _state(child) == "T", "the commit process stopped")
        proc.send_signal(signal.SIGKILL)
        proc.wait(EVENT)
        _gone(child)  # no commit lands behind the next switch's recovery
        assert not database_in_use(tmp_path / "lps.db")
    finally:
        proc.kill()
        proc.wait(EVENT)
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
    again = start(config, port)
    again.send_signal(signal.SIGTERM)
    assert again.wait(EVENT) == 0


def test_sigterm_to_the_whole_group_still_drains_through_the_commit_process(
        tmp_path: Path) -> None:
    """A service manager signals every process of the service: the child ignores it and ends
    when the switch, having committed what was in flight, closes the pipe."""
    config, port = write_config(tmp_path)

    async def earn_once() -> None:
        c = await PatientClient("ascii", "127.0.0.1", port).connect()
        assert (await c.send(request("0800", T1, 1, extra={70: "001"})))[39] == "00"
        assert (await c.send(earn(T1, 2, PAN, 100_000)))[39] == "00"
        await c.close()

    proc = start(config, port)
    try:
        (child,) = _children(proc.pid)
        _ignoring(child, signal.SIGTERM, signal.SIGINT)
        os.kill(child, signal.SIGTERM)
        os.kill(child, signal.SIGINT)
        asyncio.run(earn_once())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    finally:  # a failed test leaves no switch behind
        if proc.poll() is None:
            proc.kill()
            proc.wait(EVENT)
    _gone(child)
    assert _points(tmp_path / "lps.db") == 10
    assert subprocess.run([sys.executable, "-m", "lps.cli", "check", "--config", str(config)],
                          capture_output=True, check=False).returncode == 0


#: A stand-in child in `tmp_path`: it answers a commit's word where ready belongs, then waits
#: for its pipe's end, alive.
_STAND_IN = "lps_stand_in_child"


@pytest.mark.parametrize("child", ["missing", "answers-otherwise"])
def test_a_commit_process_that_cannot_open_the_database_refuses_the_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: str) -> None:
    """The switch's recovery works, its commit process does not: the start fails, nothing
    listens, no child is left, the journal is closed and the lock released (a start after it
    takes the database and serves)."""
    db = tmp_path / "lps.db"
    cfg = example_config(db, listen_ascii=LOCAL0, listen_bcd=LOCAL0, metrics=LOCAL0)
    if child == "missing":  # a broken install: no child module where the switch starts one
        monkeypatch.setattr(committer_module, "CHILD", "switch.journal.sqlite.no_such_child")
        error = r"ended \(exit 1\) before it opened the database"
    else:
        (tmp_path / f"{_STAND_IN}.py").write_text(
            _saying(_framed(b'{"cpu": 0.1, "advance_failed": false, "batches": 1}')))
        monkeypatch.setenv("PYTHONPATH", str(tmp_path))
        monkeypatch.setattr(committer_module, "CHILD", _STAND_IN)
        error = "answered {'cpu': 0.1, .* where it says it opened the database"
    before = _running_children(os.getpid())

    async def refused() -> Switch:
        sw = Switch(cfg)
        with pytest.raises(JournalError, match=error) as info:
            await sw.start()
        assert str(info.value).startswith(f"{db}: the commit process ")
        assert str(info.value).endswith(": the switch did not start")
        return sw

    _nothing_left(asyncio.run(refused()), before)
    monkeypatch.undo()
    asyncio.run(_earn_once(cfg))  # a start after it takes the database and serves
    assert _points(db) == 10


async def _earn_once(cfg: Config) -> None:
    """Start a switch on `cfg`, earn 10 points on `PAN` at `T1`, stop it."""
    sw = Switch(cfg)
    await sw.start()
    c = await signed_on(sw, "ascii", T1)
    assert (await c.send(earn(T1, 2, PAN, 100_000)))[39] == "00"
    await c.close()
    await sw.stop()


def _nothing_left(sw: Switch, before: set[int]) -> None:
    """What a refused start leaves: no listener, no admin socket, the journal closed, no
    child process beyond `before`, the database's lock free."""
    assert sw.servers == {} and sw.addresses == {}  # nothing listens
    assert not admin_socket_path(sw.database).exists()
    assert isinstance(sw.journal, SqliteJournal) and sw.journal._committer is None
    with pytest.raises(sqlite3.ProgrammingError):  # the journal closed
        sw.journal.conn.execute("SELECT 1")
    assert _running_children(os.getpid()) <= before  # no child left
    assert not database_in_use(sw.database)


def test_a_recovery_that_refuses_the_journal_leaves_no_child_and_no_lock(
        tmp_path: Path) -> None:
    """A journal whose tail does not add up is refused at the start (recovery's check): the
    commit process started beside the recovery ends, the lock is released and the journal
    closed, so the operator can repair the file while nothing holds it."""
    db = tmp_path / "lps.db"
    cfg = example_config(db, listen_ascii=LOCAL0, listen_bcd=LOCAL0, metrics=LOCAL0)

    asyncio.run(_earn_once(cfg))
    with sqlite3.connect(db) as conn:  # one point more in the journal than in its lot
        conn.execute("UPDATE journal SET points = points + 1 "
                     "WHERE id = (SELECT MAX(journal_id) FROM lots WHERE pan = ?)", (PAN,))
    before = _running_children(os.getpid())

    async def refused() -> Switch:
        sw = Switch(cfg)
        with pytest.raises(RecoveryError, match="journal entries"):
            await sw.start()
        return sw

    _nothing_left(asyncio.run(refused()), before)


#: `lps serve` on an install without the commit process's module.
_BROKEN_INSTALL = """
import sys
import lps.cli
import switch.journal.sqlite.committer as committer

committer.CHILD = "switch.journal.sqlite.no_such_child"
sys.exit(lps.cli.main(["serve", "--config", sys.argv[1], "--log-level", "WARNING"]))
"""


def test_lps_serve_without_its_commit_process_exits_and_says_why(tmp_path: Path) -> None:
    """The operator's view: exit 3 and one line naming the database and the child's exit,
    after the child's own error; never a switch that listens."""
    config, port = write_config(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", _BROKEN_INSTALL, str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + START
        while proc.poll() is None:  # it ends, or it listens (then it is wrong)
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                raise AssertionError("lps serve listens without its commit process")
            assert time.monotonic() < deadline, f"lps serve still runs after {START:g} s"
            time.sleep(0.05)
        _, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(EVENT)
    text = err.decode()
    assert proc.returncode == 3, text
    last = text.strip().splitlines()[-1]
    assert last == (f"lps serve: {tmp_path / 'lps.db'}: the commit process ended (exit 1) "
                    "before it opened the database (its own error, if any, is on stderr "
                    "before this): the switch did not start"), text
    assert "No module named switch.journal.sqlite.no_such_child" in text
    assert not database_in_use(tmp_path / "lps.db")
