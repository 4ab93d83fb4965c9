"""An SMTP relay that breaks its replies (docs/messaging.md, "Email"): a reply that never ends,
one that drips, a line over the bound, answers slipped in before TLS. Each ends the session
as the relay's fault: `EmailError` with `permanent` false, so the message is retried, never
dead-lettered for what the relay did, and the sender is never held past its timeout.

The relay is a TCP server on loopback that speaks the test's script, with STARTTLS under a
certificate the test makes: aiosmtpd, the well-behaved server of the other tests, cannot be
told to break its replies."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

from switch.core.catalog import HostPort
from switch.messaging.settings import EmailSettings
from switch.messaging.smtp import EmailError, SmtpChannel, build_email
from switch.messaging.smtp_client import MAX_LINE, MAX_REPLY_LINES
from tests.loopback import serve_each
from tests.messaging.smtp_server import make_certificate
from tests.waits import EVENT

Script = Callable[["Session"], None]


@dataclass
class Session:
    """One client connection to the relay, plain until `starttls`."""

    conn: socket.socket
    tls: ssl.SSLContext
    buffered: bytes = b""

    def line(self) -> bytes:
        while b"\n" not in self.buffered:
            chunk = self.conn.recv(4096)
            if not chunk:
                raise ConnectionError("the client hung up")
            self.buffered += chunk
        line, _, self.buffered = self.buffered.partition(b"\n")
        return line.rstrip(b"\r")

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def expect(self, verb: bytes, answer: bytes) -> None:
        got = self.line()
        assert got.upper().startswith(verb), got
        self.send(answer)

    def starttls(self) -> None:
        self.conn = self.tls.wrap_socket(self.conn, server_side=True)

    def greet_and_upgrade(self) -> None:
        """The usual opening: greeting, EHLO offering STARTTLS, TLS, EHLO again."""
        self.send(b"220 relay ESMTP\r\n")
        self.expect(b"EHLO", b"250-relay\r\n250 STARTTLS\r\n")
        self.expect(b"STARTTLS", b"220 go ahead\r\n")
        self.starttls()
        self.expect(b"EHLO", b"250-relay\r\n250 SIZE 1000000\r\n")


@dataclass
class Relay:
    tls: ssl.SSLContext
    cert: Path
    script: Script | None = None
    server: socket.socket | None = None
    ended: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Relay:
        self.server = serve_each(self._serve, backlog=4)
        return self

    def _serve(self, conn: socket.socket) -> None:
        session = Session(conn, self.tls)
        try:
            if self.script is not None:
                self.script(session)
        except (OSError, ConnectionError):
            pass   # the client hung up, as a bounded client does
        finally:
            session.conn.close()
            self.ended.set()

    def channel(self, timeout: float = EVENT) -> SmtpChannel:
        assert self.server is not None
        port = int(self.server.getsockname()[1])
        return SmtpChannel(EmailSettings(HostPort("127.0.0.1", port), "club@example.ir",
                                         cafile=self.cert, timeout=timeout))


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    cert, key = make_certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    r = Relay(tls, cert).start()
    try:
        yield r
    finally:
        assert r.server is not None
        r.server.close()


def message() -> EmailMessage:
    return build_email(7, "club@example.ir", "sara@example.ir", "سلام", "متن")


def opened(relay: Relay, timeout: float = EVENT) -> EmailError:
    """The error `open` ends with, waited for in a thread so that a hang fails the test."""
    outcome: list[BaseException | None] = []
    channel = relay.channel(timeout)

    def run() -> None:
        try:
            channel.open()
            outcome.append(None)
        except BaseException as exc:  # handed to the test to judge
            outcome.append(exc)
        finally:
            channel.close()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(EVENT)
    assert not worker.is_alive(), "the client was held by the relay's reply"
    [exc] = outcome
    assert isinstance(exc, EmailError), exc
    assert exc.session and not exc.permanent
    return exc


def test_a_greeting_that_never_ends_is_cut_at_the_bound(relay: Relay) -> None:
    def endless(s: Session) -> None:
        while True:
            s.send(b"220-still greeting you\r\n" * 16)

    relay.script = endless
    exc = opened(relay)
    assert f"more than {MAX_REPLY_LINES} lines" in str(exc)


def test_a_reply_dripped_a_byte_at_a_time_ends_at_the_timeout(relay: Relay) -> None:
    stop = threading.Event()

    def drip(s: Session) -> None:
        s.send(b"220-")
        while not stop.wait(0.05):
            s.send(b"x")

    relay.script = drip
    try:
        exc = opened(relay, timeout=0.5)
    finally:
        stop.set()
    assert "did not finish its reply in time" in str(exc)


def test_a_line_over_the_bound_in_the_greeting_ends_the_session(relay: Relay) -> None:
    relay.script = lambda s: s.send(b"220 " + b"x" * MAX_LINE + b"\r\n")
    exc = opened(relay)
    assert f"more than {MAX_LINE} bytes" in str(exc)


def test_answers_sent_before_the_tls_handshake_end_the_session(relay: Relay) -> None:
    def inject(s: Session) -> None:
        s.send(b"220 relay ESMTP\r\n")
        s.expect(b"EHLO", b"250-relay\r\n250 STARTTLS\r\n")
        # a man in the middle's answer to the EHLO to come, sent in clear with the 220
        s.expect(b"STARTTLS", b"220 go ahead\r\n250-relay\r\n250 AUTH PLAIN\r\n")
        s.starttls()
        s.expect(b"EHLO", b"250-relay\r\n250 SIZE 1000000\r\n")
        s.line()

    relay.script = inject
    exc = opened(relay)
    assert "before the TLS handshake" in str(exc)


def test_an_overlong_answer_to_a_recipient_is_retried_not_dead_lettered(relay: Relay) -> None:
    def overlong(s: Session) -> None:
        s.greet_and_upgrade()
        s.expect(b"MAIL FROM", b"250 ok\r\n")
        s.expect(b"RCPT TO", b"550 " + b"x" * MAX_LINE + b"\r\n")
        s.line()

    relay.script = overlong
    channel = relay.channel()
    with pytest.raises(EmailError) as caught:
        channel.send(message())
    channel.close()
    assert not caught.value.permanent, "the relay's broken line dead-lettered the message"
    assert f"more than {MAX_LINE} bytes" in str(caught.value)


def test_a_long_but_bounded_reply_and_a_whole_session_still_go_through(relay: Relay) -> None:
    got: list[bytes] = []

    def generous(s: Session) -> None:
        s.send(b"220-relay ESMTP\r\n" * (MAX_REPLY_LINES - 1) + b"220 relay\r\n")
        s.expect(b"EHLO", b"250-relay\r\n250 STARTTLS\r\n")
        s.expect(b"STARTTLS", b"220 go ahead\r\n")
        s.starttls()
        extensions = b"".join(b"250-X-EXT%d\r\n" % i for i in range(MAX_REPLY_LINES - 1))
        s.expect(b"EHLO", extensions + b"250 SIZE 1000000\r\n")
        s.expect(b"MAIL FROM", b"250 ok\r\n")
        s.expect(b"RCPT TO", b"250 ok\r\n")
        s.expect(b"DATA", b"354 go on\r\n")
        while (line := s.line()) != b".":
            got.append(line)
        s.send(b"250 queued\r\n")
        s.expect(b"QUIT", b"221 bye\r\n")

    relay.script = generous
    channel = relay.channel()
    channel.send(message())
    channel.close()
    assert relay.ended.wait(EVENT)
    assert b"Subject: =?utf-8?b?2LPZhNin2YU=?=" in got
