"""Roles, the one table that says which role may call which endpoint, and store scoping.

Every route of the server is in `ENDPOINTS`; the server refuses to start a route that is not
(see `web.routes`), and the tests call every endpoint as every role against this table. A member
may also be limited to some stores (docs/console.md, "Store-scoped staff"): `WHOLE_COALITION`
names the endpoints that act on or show the whole coalition, which such a member never uses.
"""

from __future__ import annotations

ADMIN, MARKETING, SUPPORT, SETTLEMENT, AUDITOR = (
    "admin", "marketing", "support", "settlement", "auditor")
ROLES = (ADMIN, MARKETING, SUPPORT, SETTLEMENT, AUDITOR)
ALL = frozenset(ROLES)
#: Not a role: the endpoint needs no session (the login form, the stylesheet and fonts).
PUBLIC = frozenset({"public"})

#: (method, path) -> roles allowed.
ENDPOINTS: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/static/{name}"): PUBLIC,
    ("POST", "/logout"): ALL,
    ("POST", "/language"): ALL,
    ("GET", "/"): ALL,
    ("GET", "/search"): frozenset({ADMIN, SUPPORT, AUDITOR}),
    ("POST", "/search"): frozenset({ADMIN, SUPPORT, AUDITOR}),
    ("GET", "/customer"): frozenset({ADMIN, SUPPORT, AUDITOR}),
    ("POST", "/customers/enrol"): frozenset({ADMIN, SUPPORT}),
    ("POST", "/customer/replace"): frozenset({ADMIN, SUPPORT}),
    ("POST", "/replacements/approve"): frozenset({ADMIN, SUPPORT}),
    ("POST", "/replacements/reject"): frozenset({ADMIN, SUPPORT}),
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
    ("GET", "/reports"): frozenset({ADMIN, MARKETING, SETTLEMENT, AUDITOR}),
    ("GET", "/reports/download"): frozenset({ADMIN, MARKETING, SETTLEMENT, AUDITOR}),
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

#: Endpoints that act on, or show, the whole coalition: refused (403) to store-scoped staff.
#: Blocking a card stops it in every store; a settlement run settles every store; the audit
#: log and the staff list are the coalition's.
WHOLE_COALITION = frozenset({
    ("POST", "/cards/block"), ("POST", "/cards/unblock"), ("POST", "/settlement/run"),
    ("GET", "/audit"), ("GET", "/staff"), ("POST", "/staff/add"), ("POST", "/staff/disable"),
    ("POST", "/staff/reset-password"),
    # An enrolment makes a coalition's customer; a replacement moves lots of every store
    # (docs/console.md "The service desk"). Search and a customer's page are scoped instead.
    ("POST", "/customers/enrol"), ("POST", "/customer/replace"), ("POST", "/replacements/approve"),
    ("POST", "/replacements/reject"),
})

#: Roles that may see a whole card number (each showing is audited); the others see it masked.
FULL_PAN = frozenset({ADMIN, SUPPORT})


def allowed(role: str, method: str, path: str, scoped: bool = False) -> bool:
    roles = ENDPOINTS.get((method, path))
    if roles is None:
        return False
    if roles is PUBLIC:
        return True
    return role in roles and not (scoped and (method, path) in WHOLE_COALITION)
