"""Email over SMTP with STARTTLS: a text part and a right-to-left HTML part.

The connection is upgraded with STARTTLS before anything else is said (the server's certificate
verified against the system's trust store, or `cafile` for a private CA); a server that does not
offer STARTTLS is refused, so a customer's address and name never cross the network in clear.
Each message carries a Message-ID made from its outbox id, so that a copy sent twice after a
crash is the same message to the receiving system (RFC 5322 §3.6.4; docs/messaging.md
§Delivery guarantees).
"""

from __future__ import annotations

import html
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from switch.messaging.settings import EmailSettings
from switch.messaging.smtp_client import BoundedSmtp, SmtpReplyError

__all__ = ["EmailError", "SmtpChannel", "build_email", "message_id_for"]


class EmailError(RuntimeError):
    """A message the server did not take: `permanent` for a 5xx answer; `session` when no
    session could be had at all (unreachable, no STARTTLS, refused login)."""

    def __init__(self, reason: str, permanent: bool, session: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.session = session


def _why(exc: BaseException) -> str:
    """What went wrong, without the server's own words (they may hold an address)."""
    if isinstance(exc, SmtpReplyError):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


def message_id_for(outbox_id: int, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "lps.invalid"
    return f"<lps-outbox-{outbox_id}@{domain}>"


def rtl_html(body: str) -> str:
    """The text body as right-to-left HTML (Persian), each line a paragraph, all escaped."""
    paragraphs = "\n".join(f"<p>{html.escape(line)}</p>" for line in body.split("\n")
                           if line.strip())
    return ('<!DOCTYPE html>\n<html lang="fa" dir="rtl">\n<head><meta charset="utf-8"></head>\n'
            '<body dir="rtl" style="direction: rtl; text-align: right; font-family: Tahoma, '
            f'sans-serif;">\n{paragraphs}\n</body>\n</html>\n')


def build_email(outbox_id: int, sender: str, recipient: str, subject: str,
                body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id_for(outbox_id, sender)
    msg["Content-Language"] = "fa"
    msg.set_content(body)
    msg.add_alternative(rtl_html(body), subtype="html")
    return msg


@dataclass
class SmtpChannel:
    """One SMTP session, opened on first use and kept for the batch."""

    settings: EmailSettings
    _smtp: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        cafile = str(self.settings.cafile) if self.settings.cafile else None
        return ssl.create_default_context(cafile=cafile)

    def open(self) -> None:
        if self._smtp is not None:
            return
        s = self.settings
        try:
            smtp = BoundedSmtp(s.smtp.host, s.smtp.port, timeout=s.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise EmailError(f"SMTP server {s.smtp} unreachable: {_why(exc)}",
                             permanent=False, session=True) from None
        try:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise EmailError(f"SMTP server {s.smtp} does not offer STARTTLS",
                                 permanent=False, session=True)
            smtp.starttls(context=self._context())
            smtp.ehlo()
            if s.username is not None and s.password is not None:
                smtp.login(s.username, s.password)
        except EmailError:
            smtp.close()
            raise
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise EmailError(f"SMTP server {s.smtp} refused the login: {exc.smtp_code}",
                             permanent=False, session=True) from None
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            smtp.close()
            raise EmailError(f"SMTP server {s.smtp}: STARTTLS or login failed: "
                             f"{_why(exc)}", permanent=False, session=True) from None
        self._smtp = smtp

    def send(self, msg: EmailMessage) -> None:
        """Hand one message over; `EmailError` (permanent for 5xx) if the server refuses."""
        self.open()
        assert self._smtp is not None
        try:
            refused = self._smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code = min((c for c, _ in exc.recipients.values()), default=550)
            self._reset()
            raise EmailError(f"the server refused the recipient: {code}",
                             permanent=500 <= code < 600) from None
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise EmailError(f"the server refused the message: {exc.smtp_code}",
                             permanent=500 <= exc.smtp_code < 600) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise EmailError(f"SMTP session lost: {_why(exc)}", permanent=False) from None
        if refused:
            raise EmailError("the server refused the recipient", permanent=True)

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (OSError, smtplib.SMTPException):
            self._smtp.close()
        self._smtp = None
