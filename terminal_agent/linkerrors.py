"""How a request to the switch can fail, as the agent must tell the cases apart (docs/agent.md
"Switch link and the outbox"): not sent at all (nothing to reverse), sent and then lost or
unanswered (its fate is unknown: reverse it)."""

from __future__ import annotations


class LinkDown(Exception):
    """Not connected or signed on, or the connection dropped while a request was waiting."""


class NotSent(LinkDown):
    """The request was refused before any byte of it left: the switch cannot have seen it."""


class NoAnswer(Exception):
    """No trustworthy response within the request timeout."""
