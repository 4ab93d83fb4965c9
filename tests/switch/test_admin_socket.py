"""The admin socket beside a database lying deep in the file system (docs/switch.md, "The admin
socket"): an AF_UNIX address holds 107 bytes, and the switch must still start, take commands
there and remove its socket when it stops."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

from lps.commands import admin_request
from switch.server import Switch, admin_socket_path
from tests.switch.support import T1, card, earn, inquiry
from tests.switch.test_server import config_for, signed_on
from tests.waits import EVENT

PAN = card(77)


def test_a_database_deeper_than_an_af_unix_address_keeps_its_admin_socket(tmp_path: Path
                                                                          ) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    cfg = config_for(deep)
    socket_path = admin_socket_path(cfg.switch.database)
    assert len(os.fsencode(socket_path)) > 107

    async def main() -> None:
        sw = Switch(cfg)
        await sw.start()
        try:
            assert socket_path.parent == cfg.switch.database.parent
            assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
            c = await signed_on(sw, "ascii", T1)
            assert (await c.send(earn(T1, 1, PAN, 10_000))).fields[39] == "00"
            reply = await asyncio.to_thread(admin_request, cfg, {"cmd": "block", "pan": PAN})
            assert reply.get("ok"), reply
            # Blocked through the socket: the switch's own state says so (docs/protocol.md
            # §4, `62`).
            assert (await c.send(earn(T1, 2, PAN, 10_000))).fields[39] == "62"
            await c.close()
        finally:
            await sw.stop()
        assert not socket_path.exists()

    asyncio.run(main())


def test_a_short_path_is_bound_as_it_is_for_the_switchs_user_alone(tmp_path: Path) -> None:
    """docs/security.md: whatever the umask, only the switch's user (and root) may connect."""
    cfg = config_for(tmp_path)
    assert len(os.fsencode(admin_socket_path(cfg.switch.database))) <= 107

    async def main() -> None:
        sw = Switch(cfg)
        old = os.umask(0o002)  # a group-writable umask, as some systems' default
        try:
            await sw.start()
        finally:
            os.umask(old)
        try:
            sock = sw.servers["admin"].sockets[0]
            assert sock.getsockname() == str(admin_socket_path(cfg.switch.database))
            mode = admin_socket_path(cfg.switch.database).stat().st_mode
            assert stat.S_IMODE(mode) == 0o600
        finally:
            await sw.stop()

    asyncio.run(main())


STORE = "STORE0000000001"
#: Lines the socket refuses, each with the words its refusal holds (docs/switch.md, "The
#: admin socket"): before they were checked, `2.5` rials or `1.9` points were credited as 2
#: and 1, `true` as 1, "۵" and " 5 " as 5, and a line that was not a JSON object, or an
#: amount of 1e400, was never answered.
REFUSED: list[tuple[bytes, str]] = [
    (b'{"cmd": "purse_credit", "pan": "@P", "amount": 2.5, "store": "@S", "reason": "r"}',
     "'amount' must be a JSON integer"),
    (b"[]", "not a JSON object"),
    (b"7", "not a JSON object"),
    (b"null", "not a JSON object"),
    (b'"block"', "not a JSON object"),
    (b"[" * 5_000 + b"]" * 5_000, "nested too deep"),
    (b"[" * 70_000, "longer than 65,536 bytes"),
    (b"\xff{}", "not UTF-8"),
    (b"{", "not JSON"),
    (b"{}", "cmd must be one of"),
    (b'{"cmd": 5}', "cmd must be one of"),
    (b'{"cmd": "BLOCK", "pan": "@P"}', "cmd must be one of"),
    (b'{"cmd": "block"}', "needs the field 'pan'"),
    (b'{"cmd": "block", "pan": 5}', "'pan' must be a string"),
    (b'{"cmd": "block", "pan": "@P", "coalition": ["a"]}', "'coalition' must be"),
    (b'{"cmd": "enroll", "pan": "@P", "coaltion": "tehran-mall"}', "takes no field 'coaltion'"),
    (b'{"cmd": "block", "pan": "@P", "' + b"x" * 5_000 + b'": 1}', "takes no field"),
    (b'{"cmd": "adjust", "pan": "@P", "points": 1.9, "store": "@S", "reason": "r"}',
     "'points' must be a JSON integer"),
    (b'{"cmd": "adjust", "pan": "@P", "points": true, "store": "@S", "reason": "r"}',
     "'points' must be a JSON integer"),
    ('{"cmd": "adjust", "pan": "@P", "points": "\u06f5", "store": "@S", "reason": "r"}'.encode(),
     "'points' must be a JSON integer"),
    (b'{"cmd": "adjust", "pan": "@P", "points": " 5 ", "store": "@S", "reason": "r"}',
     "'points' must be a JSON integer"),
    (b'{"cmd": "adjust", "pan": "@P", "points": 1e400, "store": "@S", "reason": "r"}',
     "'points' must be a JSON integer"),
    (b'{"cmd": "adjust", "pan": "@P", "points": NaN, "store": "@S", "reason": "r"}',
     "'points' must be a JSON integer"),
    (b'{"cmd": "adjust", "pan": "@P", "points": 5, "store": 7, "reason": "r"}',
     "'store' must be a string"),
    (b'{"cmd": "purse_credit", "pan": "@P", "amount": "5", "store": "@S", "reason": "r"}',
     "'amount' must be a JSON integer"),
    (b'{"cmd": "replace", "pan": "@P", "new": 5, "reason": "r"}', "'new' must be a string"),
    (b'{"cmd": "coupon_void", "digest": []}', "'digest' must be a string"),
    (b'{"cmd": "set-tmk", "tid": 1, "key": "k", "kcv": "c"}', "'tid' must be a string"),
    (b'{"cmd": "reload", "now": 1}', "takes no field 'now'"),
]


async def _ask(path: Path, line: bytes) -> dict[str, object]:
    reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
    try:
        writer.write(line + b"\n")
        await writer.drain()
        # A generous bound (not a measurement): without it a line never answered hangs the test.
        answer = await asyncio.wait_for(reader.readline(), EVENT)
    finally:
        writer.close()
    assert answer.endswith(b"\n"), answer
    reply: dict[str, object] = json.loads(answer)
    return reply


def test_a_line_that_is_not_a_command_of_its_shape_is_refused_and_changes_nothing(
        tmp_path: Path) -> None:
    cfg = config_for(tmp_path)
    socket_path = admin_socket_path(cfg.switch.database)
    pan = PAN.encode()  # "@P" in `REFUSED`, and "@S" the store

    async def main() -> None:
        sw = Switch(cfg)
        await sw.start()
        try:
            c = await signed_on(sw, "ascii", T1)
            assert (await c.send(earn(T1, 1, PAN, 10_000))).fields[39] == "00"
            before = (await c.send(inquiry(T1, 2, PAN))).fields[54]
            first_id = sw.state.next_journal_id
            for line, words in REFUSED:
                line = line.replace(b"@P", pan).replace(b"@S", STORE.encode())
                reply = await _ask(socket_path, line)
                assert reply["ok"] is False, line[:80]
                error = str(reply["error"])
                assert error.startswith("bad admin request: ") and words in error, (line[:80],
                                                                                     error)
                assert len(error) < 400 and PAN not in error
            assert sw.state.next_journal_id == first_id
            assert (await c.send(inquiry(T1, 3, PAN))).fields[54] == before
            first_id = sw.state.next_journal_id
            # The socket still takes a command of its shape, amounts as JSON integers.
            good = {"cmd": "adjust", "pan": PAN, "points": 5, "store": STORE,
                    "reason": "goodwill \u200cنیم\u200cفاصله", "by": "ops"}
            assert await _ask(socket_path, json.dumps(good).encode()) == {"ok": True}
            assert sw.state.next_journal_id == first_id + 1
            await c.close()
        finally:
            await sw.stop()

    asyncio.run(main())
