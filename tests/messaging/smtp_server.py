"""A test SMTP server: aiosmtpd on loopback, STARTTLS required, with a certificate the test
makes with `cryptography` (trusted by the sender through `cafile`)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.agent.harness import self_signed
from tests.waits import START


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    return self_signed(directory)


@dataclass
class Handler:
    received: list[tuple[str, list[str], EmailMessage, bool]] = field(default_factory=list)
    #: Recipients answered 550 at RCPT TO.
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), msg,
                              session.ssl is not None))
        return "250 OK queued"


def start_smtp(directory: Path, port: int) -> tuple[Controller, Handler, Path]:
    cert, key = make_certificate(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Handler()
    # aiosmtpd gives its thread 5 s to start by default: a busy machine can take longer
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, ready_timeout=START)
    controller.start()
    return controller, handler, cert
