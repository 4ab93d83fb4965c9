"""`smtplib.SMTP` whose replies are bounded: in lines, in bytes a line, and in time.

The standard client reads a reply's continuation lines (`250-...`) for as long as the server
sends them, each read waiting up to the timeout again, so a relay that never ends its reply, or
drips it a byte at a time, holds the sender for good and grows its memory. A line over its
limit comes back as a synthesized `500 Line too long`, which a sender reads as the server's
permanent refusal of the message. Here a reply must be complete within `timeout` seconds and
`MAX_REPLY_LINES` lines of at most `MAX_LINE` bytes (RFC 5321 §4.5.3.1.5 asks 512 for a reply
line; the bound is smtplib's own, for servers that write longer texts). A reply that breaks
one of these ends the session with `SmtpReplyError`, which is the relay's fault, so the message
is retried, not refused.

Bytes the server sends after its answer to STARTTLS and before the TLS handshake could be
read as answers that came over TLS, which is how a man in the middle would inject them; the
standard client drops them silently, and here the session is ended instead.
"""

from __future__ import annotations

import smtplib
import socket
import time

__all__ = ["MAX_LINE", "MAX_REPLY_LINES", "BoundedSmtp", "SmtpReplyError"]

#: The most lines one reply may have (an EHLO answer names a dozen or two extensions).
MAX_REPLY_LINES = 64

#: The most bytes one reply line may have, CRLF included (smtplib's `_MAXLINE`).
MAX_LINE = 8192


class SmtpReplyError(smtplib.SMTPServerDisconnected):
    """The server's reply broke a bound, or came unasked before TLS; the session is closed."""


class BoundedSmtp(smtplib.SMTP):
    """`smtplib.SMTP` with `getreply` reading under the module's bounds."""

    _pending = b""
    _pending_from: socket.socket | None = None

    def getreply(self) -> tuple[int, bytes]:
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        if self._pending_from is not self.sock:
            if self._pending:
                self.close()
                raise SmtpReplyError("the server sent data before the TLS handshake")
            self._pending_from = self.sock
        deadline = time.monotonic() + self._reply_seconds()
        texts: list[bytes] = []
        while True:
            if len(texts) == MAX_REPLY_LINES:
                self.close()
                raise SmtpReplyError(f"a reply of more than {MAX_REPLY_LINES} lines")
            line = self._line(deadline)
            texts.append(line[4:].strip(b" \t\r\n"))
            code = line[:3]
            if not (code.isascii() and code.isdigit()):
                errcode = -1
                break
            errcode = int(code)
            if line[3:4] != b"-":
                break
        assert self.sock is not None
        self.sock.settimeout(self._reply_seconds())  # what smtplib's writes wait
        return errcode, b"\n".join(texts)

    def _reply_seconds(self) -> float:
        timeout = self.timeout
        if isinstance(timeout, int | float) and timeout > 0:
            return float(timeout)
        return 30.0

    def _line(self, deadline: float) -> bytes:
        """One line of the reply, CRLF included, read before `deadline` (monotonic)."""
        assert self.sock is not None
        while True:
            end = self._pending.find(b"\n", 0, MAX_LINE)
            if end >= 0:
                line, self._pending = self._pending[:end + 1], self._pending[end + 1:]
                return line
            if len(self._pending) >= MAX_LINE:
                self.close()
                raise SmtpReplyError(f"a reply line of more than {MAX_LINE} bytes")
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                self.sock.settimeout(left)
                chunk = self.sock.recv(MAX_LINE)
            except TimeoutError:
                self.close()
                raise SmtpReplyError("the server did not finish its reply in time") from None
            except OSError as exc:
                self.close()
                raise smtplib.SMTPServerDisconnected(
                    f"connection unexpectedly closed: {type(exc).__name__}") from None
            if not chunk:
                self.close()
                raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")
            self._pending += chunk

    def close(self) -> None:
        self._pending = b""
        self._pending_from = None
        super().close()
