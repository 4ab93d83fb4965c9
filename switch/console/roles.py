"""Roles and the one table that says which role may call which endpoint.

Every route of the server is in `ENDPOINTS`; the server refuses to start a route that is not
(see `server.Router`), and the tests call every endpoint as every role against this table.
"""

from __future__ import annotations

ADMIN, MARKETING, SUPPORT, SETTLEMENT, AUDITOR = (
    "admin", "marketing", "support", "settlement", "auditor")
ROLES = (ADMIN, MARKETING, SUPPORT, SETTLEMENT, AUDITOR)
ALL = frozenset(ROLES)
#: Not a role: the endpoint needs no session (the login form, the stylesheet).
PUBLIC = frozenset({"public"})

#: (method, path) -> roles allowed.
ENDPOINTS: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/static/console.css"): PUBLIC,
    ("POST", "/logout"): ALL,
    ("GET", "/"): ALL,
    ("GET", "/cards"): frozenset({ADMIN, SUPPORT, AUDITOR}),
    ("POST", "/cards"): frozenset({ADMIN, SUPPORT, AUDITOR}),
    ("POST", "/cards/reveal"): frozenset({ADMIN, SUPPORT}),
    ("POST", "/cards/block"): frozenset({ADMIN, SUPPORT}),
    ("POST", "/cards/unblock"): frozenset({ADMIN, SUPPORT}),
    ("POST", "/cards/adjust"): frozenset({ADMIN, SUPPORT}),
    ("GET", "/adjustments"): frozenset({ADMIN, SUPPORT, AUDITOR}),
    ("POST", "/adjustments/approve"): frozenset({ADMIN, SUPPORT}),
    ("POST", "/adjustments/reject"): frozenset({ADMIN, SUPPORT}),
    ("GET", "/programs"): frozenset({ADMIN, MARKETING, AUDITOR}),
    ("GET", "/programs/campaign"): frozenset({ADMIN, MARKETING}),
    ("POST", "/programs/campaigns/add"): frozenset({ADMIN, MARKETING}),
    ("POST", "/programs/campaigns/change"): frozenset({ADMIN, MARKETING}),
    ("POST", "/programs/campaigns/remove"): frozenset({ADMIN, MARKETING}),
    ("GET", "/settlement"): frozenset({ADMIN, SETTLEMENT, AUDITOR}),
    ("GET", "/settlement/day"): frozenset({ADMIN, SETTLEMENT, AUDITOR}),
    ("GET", "/settlement/file"): frozenset({ADMIN, SETTLEMENT, AUDITOR}),
    ("POST", "/settlement/run"): frozenset({ADMIN, SETTLEMENT}),
    ("GET", "/audit"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/staff"): frozenset({ADMIN}),
    ("POST", "/staff/add"): frozenset({ADMIN}),
    ("POST", "/staff/disable"): frozenset({ADMIN}),
    ("POST", "/staff/reset-password"): frozenset({ADMIN}),
}

#: Roles that may see a whole card number (each showing is audited); the others see it masked.
FULL_PAN = frozenset({ADMIN, SUPPORT})


def allowed(role: str, method: str, path: str) -> bool:
    roles = ENDPOINTS.get((method, path))
    return roles is not None and (roles is PUBLIC or role in roles)
