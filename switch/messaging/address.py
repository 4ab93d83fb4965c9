"""Recipients: a mobile number for SMS, an email address for email, each in one stored form.

The stored form is also the key of the consent table (docs/messaging.md §Opt-out), so a
customer who opted out as `0912...` is not messaged as `+98912...`. Logs show only
`mask_address` of it.
"""

from __future__ import annotations

import hashlib
from email.errors import MessageError
from email.headerregistry import Address

from switch.core.text import TextError, normalize_text
from switch.messaging.mobile import MobileError, mask_mobile, normalize_mobile

__all__ = ["AddressError", "mask_address", "normalize_address", "normalize_email",
           "pseudonym"]


class AddressError(ValueError):
    """A recipient that cannot be messaged, with the reason and an example."""


def normalize_email(text: str) -> str:
    """`local@domain` with the domain in lower case, or `AddressError`."""
    try:
        bare = normalize_text(text, "an email address", max_length=254)
        addr = Address(addr_spec=bare)
    except (TextError, ValueError, IndexError, MessageError):
        raise AddressError("not an email address: write it as name@example.ir") from None
    if not addr.username or "." not in addr.domain or " " in bare:
        raise AddressError("not an email address: write it as name@example.ir")
    return f"{addr.username}@{addr.domain.lower()}"


def normalize_address(channel: str, text: str) -> str:
    if channel == "sms":
        try:
            return normalize_mobile(text)
        except MobileError as exc:
            raise AddressError(str(exc)) from None
    if channel == "email":
        return normalize_email(text)
    raise AddressError(f"channel must be sms or email, got {channel!r}")


def mask_address(address: str) -> str:
    """`98912***4567` or `a***@example.ir`: what a log line may show of a recipient."""
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return mask_mobile(address)


def pseudonym(customer_ref: str) -> str:
    """A stable, non-reversible tag for a customer reference in logs: `c:1a2b3c4d`."""
    return "c:" + hashlib.blake2s(customer_ref.encode(), digest_size=4).hexdigest()
