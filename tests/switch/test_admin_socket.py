"""The admin socket beside a database lying deep in the file system (docs/switch.md, "The admin
socket"): an AF_UNIX address holds 107 bytes, and the switch must still start, take commands
there and remove its socket when it stops."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from lps.commands import admin_request
from switch.server import Switch, admin_socket_path
from tests.switch.support import T1, card, earn
from tests.switch.test_server import config_for, signed_on

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
