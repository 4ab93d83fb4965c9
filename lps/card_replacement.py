"""What `lps cards replace` and the console's service desk do after the switch replaced a lost
card (switch/core/card_replace.py): the new card joins the old card's customer account, and a
running switch loads the account's profile onto it (docs/switch.md, "Replacing a lost card").

The money moved in the switch's journal; this is the profile side (the customers' tables), as
`lps customers link` writes it.
"""

from __future__ import annotations

import datetime as dt

from lps.commands import admin_request
from switch.config import Config
from switch.customers.desk import open_desk
from switch.customers.inputs import CustomerError


def carry_account(config: Config, old_pan: str, new_pan: str, now: dt.datetime) -> int | None:
    """Link `new_pan` to the account `old_pan` belongs to; the account (None: no account).

    `CustomerError` when the link is refused (the money has moved all the same: link the card
    by hand with `lps customers link`)."""
    from switch.server import database_in_use

    with open_desk(config) as desk:
        owner = desk.customers.owner(old_pan)
        if owner is None:
            return None
        desk.link(owner, [new_pan], now)
    if database_in_use(config.switch.database):
        reply = admin_request(config, {"cmd": "profile", "pan": new_pan})
        if not reply.get("ok"):
            raise CustomerError(f"the running switch did not load the new card's profile: "
                                f"{str(reply.get('error'))[:200]} (it reads it at its next "
                                "start)")
    return owner
