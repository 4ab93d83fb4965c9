"""The console on a PostgreSQL journal it cannot reach: every page that reads the journal says
so in a sentence that names the server (never its password) and changes nothing; the pages
that do not read it keep working (docs/console.md, "The console's database")."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lps.console import queries
from lps.console.queries import QueryError
from switch.journal import open_journal
from tests.console.support import Client, Console, add_staff, make_env
from tests.pg.cluster import PgCluster
from tests.switch.support import card
from tests.waits import EVENT

SECRET = "s3cret-pw"
#: Nothing listens on port 1; libpq gives up at once (a timeout bounds it anyway).
UNREACHABLE = f"postgresql://lps:{SECRET}@127.0.0.1:1/lps?connect_timeout={int(EVENT)}"


def test_an_unreachable_journal_is_said_on_each_page_that_reads_it(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    sw = dataclasses.replace(env.config.switch, journal_url=UNREACHABLE)
    env = dataclasses.replace(env, config=dataclasses.replace(env.config, switch=sw))
    add_staff(env, "ann", "admin")
    with Console(env) as console:
        client = Client(console.url)
        assert client.login("ann").status == 303
        for reply in (client.get("/"), client.get("/settlement"),
                      client.post("/cards", pan=env.cards[0])):
            text = " ".join(reply.text().split())
            assert reply.status in (200, 400), (reply.status, text[:300])
            assert "127.0.0.1:1" in text, text[:600]
            assert SECRET not in reply.body
        assert client.get("/programs").status == 200  # the configuration only


def test_a_server_lost_while_a_page_reads_is_a_query_error(pg_journal_url: str,
                                                           pg_primary: PgCluster) -> None:
    """The session ends under the console's reader (the server restarted, say): the page gets
    the one-line `QueryError` it shows, not an exception of the driver."""
    open_journal(pg_journal_url).close()  # the schema
    with (pytest.raises(QueryError, match=r"terminat|closed|connection"),
          queries.reading(pg_journal_url) as reader):
        pid = reader.conn.raw.info.backend_pid  # type: ignore[attr-defined]
        with pg_primary.primary.admin_connect() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        reader.card(card(1))
