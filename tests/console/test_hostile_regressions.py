"""What the hostile-input sweep (test_hostile_inputs.py) found, one focused test each, on the
sweep's harness (tests/console/hostile.py): one real console and `lps serve` for the module."""

from __future__ import annotations

import sqlite3
import tomllib
from collections.abc import Iterator

import pytest

from switch.core.luhn import luhn_complete, mask_pan
from switch.core.text import to_ascii_digits
from tests.console.hostile import (
    ROUTES,
    S1,
    Answer,
    Form,
    Part,
    Q,
    Site,
    audit_pans,
    campaign,
    clear_pans,
    part,
    problems,
    send,
    send_multipart,
    send_unfinished,
    start_site,
    state,
)
from tests.console.support import Client, Reply, add_staff


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from start_site(tmp_path_factory)


def text_of(answer: Answer) -> str:
    return Reply(answer.status, answer.body, answer.headers).text()


def refused(site: Site, user: str, method: str, path: str, form: Form) -> Answer:
    """The request refused with 400, a message in Persian, and nothing changed."""
    client = site.clients[user]
    before = state(site)
    answer = send(client, method, path, [(k, Q(v)) for k, v in form.items()]
                  + ([("csrf", Q(client.csrf))] if method == "POST" else []))
    found = problems(site, answer, True, state(site) != before)
    assert not found, (path, found, text_of(answer)[-1500:])
    assert answer.status == 400, (path, answer.status)
    return answer


def test_a_day_past_the_end_of_december_9999_is_refused(site: Site) -> None:
    """9999-12-32 is refused for its day wherever a date is typed (the switch's parser counts
    December 9999's days through January 10000, which `datetime` cannot hold)."""
    day = "9999-12-32"
    for user, method, path, form in (
            ("sam", "GET", "/settlement/day", {"date": day}),
            ("sam", "GET", "/settlement/file", {"date": day, "name": "positions.csv"}),
            ("sam", "POST", "/settlement/run", {"date": day}),
            ("mia", "GET", "/reports", {"to": day}),
            ("mia", "GET", "/reports/download", {"from": day, "format": "csv"}),
            ("aud", "GET", "/audit", {"from": day}),
            ("sue", "POST", "/customers/enrol", {"name": "x", "mobile": "09351234567",
                                                 "birth_date": day}),
            ("mia", "POST", "/programs/campaigns/add", campaign(site, to=day))):
        answer = refused(site, user, method, path, form)
        assert "آن ماه فقط ۳۱ روز دارد" in text_of(answer), path


def test_a_number_of_ten_thousand_digits_is_refused(site: Site) -> None:
    """Python's int() refuses more than 4,300 digits with a ValueError of its own (not the
    typed-number refusal): the number is refused for its size like any other too large."""
    digits = "9" * 10_000
    answer = refused(site, "sue", "POST", "/cards/adjust", {
        "card": site.ids["ref"], "points": digits, "store": S1, "reason": "x"})
    assert "امتیاز باید عدد صحیحی" in text_of(answer)
    for field in ("bonus", "hour_from", "expire_after_days"):
        answer = refused(site, "mia", "POST", "/programs/campaigns/add",
                         campaign(site, **{"hour_from": "8", "hour_to": "20", field: digits}))
        assert "باید عدد صحیح باشد" in text_of(answer), field


def test_bytes_that_are_not_utf8_are_refused_not_stored_as_replacement_characters(
        site: Site) -> None:
    """A value whose bytes are not UTF-8 (%FF, or %ED%A0%80: a lone surrogate encoded) was
    read as U+FFFD and stored: a reason, a customer's name, a campaign's name. It is refused,
    naming the field, in the member's language."""
    for wire in ("%FF", "%ED%A0%80", "ok%C3"):
        for user, path, form, field in (
                ("sue", "/cards/adjust", {"card": site.ids["ref"], "points": "5",
                                          "store": S1}, "reason"),
                ("sue", "/customers/enrol", {"mobile": "09351234568"}, "name"),
                ("mia", "/programs/campaigns/add", campaign(site, name="x"), "name")):
            client = site.clients[user]
            before = state(site)
            answer = send(client, "POST", path, [(k, Q(v)) for k, v in form.items()
                                                 if k != field]
                          + [(field, wire), ("csrf", Q(client.csrf))])
            assert not problems(site, answer, True, state(site) != before), (path, wire)
            assert f"{field}: متن فرستاده‌شده UTF-8 نیست" in text_of(answer), text_of(answer)
    answer = send(site.clients["aud"], "GET", "/audit", [("actor", "%FF")])
    assert answer.status == 400 and "actor: متن فرستاده‌شده UTF-8 نیست" in text_of(answer)


def test_a_card_number_in_a_reason_or_a_name_is_refused(site: Site) -> None:
    """Free text is stored and shown as typed, in the audit log too, where card numbers are
    masked: one typed into a reason or a name (whole, in groups, in Persian digits) is
    refused, naming the field."""
    pan = site.env.cards[2]
    for typed in (pan, f"lost {pan[:4]} {pan[4:8]} {pan[8:12]} {pan[12:]}",
                  "کارت " + pan.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))):
        for user, path, form in (
                ("sue", "/cards/adjust", {"card": site.ids["ref"], "points": "5", "store": S1,
                                          "reason": typed}),
                ("sue", "/customer/replace", {"account": site.ids["account"],
                                              "card": site.ids["customer_ref"],
                                              "new": luhn_complete("628000555555555"),
                                              "reason": typed}),
                ("sue", "/customers/enrol", {"name": typed, "mobile": "09351234569"}),
                ("mia", "/programs/campaigns/add", campaign(site, name=typed))):
            answer = refused(site, user, "POST", path, form)
            assert "شماره‌ی کارت دارد" in text_of(answer), (path, text_of(answer)[-600:])
    # A number that is not a card number (no Luhn, too short) is text like any other.
    reply = send(site.clients["sue"], "POST", "/cards/adjust", [
        ("card", site.ids["ref"]), ("points", "5"), ("store", S1),
        ("reason", Q("receipt 1234567890123")), ("csrf", Q(site.clients["sue"].csrf))])
    assert reply.status == 303, text_of(reply)


def test_a_card_number_typed_as_a_username_is_recorded_masked(site: Site) -> None:
    """A failed login is audited with the username tried and counted by the throttle under
    it: a card number typed into the username box (the desk's habit) is recorded masked."""
    pan = site.env.cards[2]
    persian = pan.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    for typed in (pan, persian):
        client = Client(site.console.url)
        client.get("/login")
        answer = send(client, "POST", "/login", [("username", Q(typed)),
                                                 ("password", "x"), ("csrf", Q(client.csrf))])
        assert answer.status == 401 and not clear_pans(site, answer.body)
    assert not audit_pans(site)
    conn = sqlite3.connect(f"file:{site.env.root / 'lps.db.console.db'}?mode=ro", uri=True)
    try:
        tried = [r[0] for r in conn.execute("SELECT username FROM login_failures")]
        targets = [r[0] for r in conn.execute(
            "SELECT target FROM audit_log WHERE action = 'login.failed'")]
    finally:
        conn.close()
    assert tried == [mask_pan(pan)] * 2
    assert targets == [f"staff:{mask_pan(pan)}"] * 2


def test_a_card_number_typed_into_another_field_is_not_echoed_in_clear(site: Site) -> None:
    """A refusal names what was typed (`got ...`): a card number typed into a date, a number,
    a store or a file name comes back masked, as every page shows card numbers."""
    pan = site.env.cards[2]
    for user, method, path, form in (
            ("mia", "GET", "/reports", {"to": pan}),
            ("sam", "GET", "/settlement/file", {"date": site.ids["day"], "name": pan}),
            ("mia", "GET", "/programs/campaign", {"owner": "coalition:tehran-mall",
                                                  "index": pan}),
            ("sue", "POST", "/cards/adjust", {"card": site.ids["ref"], "points": pan,
                                              "store": S1, "reason": "x"}),
            ("sue", "POST", "/cards/adjust", {"card": site.ids["ref"], "points": "5",
                                              "store": pan, "reason": "x"}),
            ("sue", "POST", "/customers/enrol", {"name": "x", "mobile": "09351234567",
                                                 "birth_date": pan}),
            ("sue", "POST", "/customers/enrol", {"name": "x", "mobile": pan}),
            ("ann", "POST", "/staff/add", {"username": "newbie", "role": "auditor",
                                           "password": "long enough pw", "stores": pan}),
            ("mia", "POST", "/programs/campaigns/add", campaign(site, bonus=pan))):
        answer = refused(site, user, method, path, form)
        assert "628000******" in to_ascii_digits(text_of(answer)), (path, text_of(answer)[-600:])


def test_a_replacement_names_the_account_of_the_card_it_replaces(site: Site) -> None:
    """The replacement form's account (a hidden field: where the new card goes and the page
    to go back to) was taken as sent: another number replaced the card all the same, recorded
    against that account, and went into the redirect's URL (a card number too). A card that
    is not on that account is refused and nothing is replaced."""
    for account in ("999", site.env.cards[2], "0"):
        answer = refused(site, "sue", "POST", "/customer/replace", {
            "account": account, "card": site.ids["customer_ref"],
            "new": luhn_complete("628000555555556"), "reason": "lost"})
        assert "حساب مشتری" in text_of(answer), text_of(answer)[-600:]


def test_a_card_number_in_a_code_or_in_the_switchs_words_is_masked(site: Site) -> None:
    """A typed owner is echoed as a code, and the switch's loader says the multiplier it
    refuses in its own words: a card number in either is masked too."""
    pan = site.env.cards[2]
    for user, method, path, form in (
            ("mia", "GET", "/programs/campaign", {"owner": pan, "index": "0"}),
            ("mia", "POST", "/programs/campaigns/remove", {"version": site.version(),
                                                           "owner": pan, "index": "0"}),
            ("mia", "POST", "/programs/campaigns/add", campaign(site, multiplier=pan))):
        answer = refused(site, user, method, path, form)
        assert "628000******" in to_ascii_digits(text_of(answer)), (path, text_of(answer)[-600:])


def test_a_form_of_too_many_fields_is_refused_in_the_members_language(site: Site) -> None:
    """A body the form reader refuses (more than 60 fields) got 'malformed form' in English
    plain text; it is refused like any bad form, in the member's language, nothing read."""
    client = site.clients["sue"]
    before = state(site)
    answer = send(client, "POST", "/cards/adjust", [(f"f{i}", "x") for i in range(70)]
                  + [("csrf", Q(client.csrf))])
    assert not problems(site, answer, True, state(site) != before)
    assert answer.status == 400 and "فرم خوانده نشد" in text_of(answer), text_of(answer)[-500:]
    guest = Client(site.console.url)
    guest.get("/login")
    answer = send(guest, "POST", "/login", [(f"f{i}", "x") for i in range(70)]
                  + [("csrf", Q(guest.csrf))])
    assert answer.status == 400 and "فرم خوانده نشد" in text_of(answer), text_of(answer)[-500:]


def test_an_adjustment_from_a_customers_page_names_the_account_of_its_card(site: Site) -> None:
    """The adjustment form on a customer's page names the account to go back to: another
    number (a card number) went into the redirect's URL with the adjustment applied. A card
    that is not on that account is refused and nothing is adjusted."""
    for account in ("999", site.env.cards[2]):
        answer = refused(site, "sue", "POST", "/cards/adjust", {
            "account": account, "card": site.ids["ref"], "points": "5", "store": S1,
            "reason": "x"})
        assert "حساب مشتری" in text_of(answer), text_of(answer)[-600:]
    ok = send(site.clients["sue"], "POST", "/cards/adjust", [
        ("account", site.ids["account"]), ("card", site.ids["customer_ref"]), ("points", "5"),
        ("store", S1), ("reason", "x"), ("csrf", Q(site.clients["sue"].csrf))])
    assert ok.status == 303 and ok.headers["location"].startswith(
        f"/customer?id={site.ids['account']}&done="), ok.headers


def _multipart_cases(base: Form, token: Part) -> list[tuple[str, list[Part]]]:
    """(the field named in the refusal, the parts): each field's value made not UTF-8 in
    turn (an extra field on a form without any), a field's name, a file's name."""
    good = [part(k, v) for k, v in base.items()]
    out = [(k, [(p, v + b"\xff") if p == part(k, "")[0] else (p, v) for p, v in good] + [token])
           for k in base]
    return [*(out or [("x", [token, (b'name="x"', b"ok\xff")])]),
            ("r\ufffdason", [*good, token, (b'name="r\xe9ason"', b"x")]),
            ("note", [*good, token, (b'name="note"; filename="\xff.txt"', b"x")])]


def test_a_multipart_form_that_is_not_utf8_is_refused_on_every_route(site: Site) -> None:
    """A form sent as multipart/form-data had its bytes that are not UTF-8 read as Latin-1
    ("\\xff" became "ÿ") and stored. On every route that takes a form, a field's value or
    name, or a file's name, that is not UTF-8 is refused as in a urlencoded form, naming the
    field, nothing changed."""
    forms: dict[str, tuple[str, Form]] = {"/login": ("guest", {"username": "sue",
                                                               "password": "not the password"})}
    for route in ROUTES:
        if route.method == "POST":
            forms.setdefault(route.path, (route.user, route.base(site)))
    failures = []
    for path, (user, base) in forms.items():
        client = site.clients.get(user) or Client(site.console.url)
        if user == "guest":
            client.get("/login")  # the login form's own CSRF cookie
        volatile = ("audit_log", "login_failures") if user == "guest" else ()
        for field, parts in _multipart_cases(base, part("csrf", client.csrf)):
            before = state(site, volatile)
            answer = send_multipart(client, path, parts)
            found = problems(site, answer, True, state(site, volatile) != before)
            # A file is refused as a form that cannot be read (no form takes files).
            said = "فرم خوانده نشد" if field == "note" else f"{field}: متن فرستاده‌شده UTF-8 نیست"
            if not found and said not in text_of(answer):
                found.append("not said: " + text_of(answer)[-300:])
            failures += [f"POST {path} {field}: {f}" for f in found]
    assert not failures, "\n".join(failures)


def test_a_multipart_form_is_read_as_utf8_only(site: Site) -> None:
    """A multipart form in UTF-8 (Persian, a ZWNJ) is read as a urlencoded one is; one that
    declares another charset is refused as a form that cannot be read, nothing changed."""
    sue = site.clients["sue"]
    reason = "هدیه\u200cی چندبخشی"
    fields = {"card": site.ids["ref"], "points": "۳", "store": S1, "reason": reason}
    answer = send_multipart(sue, "/cards/adjust", [part(k, v) for k, v in fields.items()]
                            + [part("csrf", sue.csrf)])
    assert answer.status == 303, text_of(answer)[-600:]
    assert reason in sue.get("/adjustments").body
    before = state(site)
    answer = send_multipart(sue, "/cards/adjust", [*(part(k, v) for k, v in fields.items()
                                                     if k != "reason"),
                                                   (b'name="reason"', "caf\xe9".encode("latin-1")),
                                                   part("csrf", sue.csrf)],
                            "multipart/form-data; charset=latin-1")
    assert not problems(site, answer, True, state(site) != before)
    assert "فرم خوانده نشد" in text_of(answer), text_of(answer)[-600:]


def test_a_body_over_64_kib_is_refused_in_the_members_language_unread(site: Site) -> None:
    """A body over 64 KiB got "request body too large" in English plain text. It is refused
    413 with the page in the member's language (English for an English reader), nothing
    changed, before the rest of the body is read: the answer comes though the rest is never
    sent, whether the body's length is declared (Content-Length) or it streams (chunked)."""
    add_staff(site.env, "eve", "support", language="en")
    eve = Client(site.console.url)
    assert eve.login("eve").status == 303
    guest = Client(site.console.url)
    guest.get("/login")
    for who, path, said in ((site.clients["sue"], "/cards/adjust", "فرم بزرگ‌تر از"),
                            (eve, "/cards/adjust", "The form is larger than"),
                            (guest, "/login", "فرم بزرگ‌تر از")):
        form = (f"card={Q(site.ids['ref'])}&points=5&store={S1}&reason=big&"
                f"csrf={Q(who.csrf)}&pad=").encode()
        chunk = b"x" * 16 * 1024
        for headers, body in (
                ({"Content-Length": str(10 * 1024 * 1024)}, form + chunk),
                ({"Transfer-Encoding": "chunked"},
                 b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [form, *[chunk] * 5]))):
            before = state(site)
            answer = send_unfinished(who, path, {
                "Content-Type": "application/x-www-form-urlencoded", **headers}, body)
            found = problems(site, answer, True, state(site) != before,
                             message=who is not eve)  # her message is English, said below
            assert not found, (path, headers, found)
            assert answer.status == 413, (path, headers, answer.status, answer.body[:300])
            assert answer.headers["content-type"].startswith("text/html"), answer.headers
            assert said in text_of(answer), (path, headers, text_of(answer)[-600:])


def test_a_multiplier_of_minus_zero_is_written_as_zero(site: Site) -> None:
    """A sign is read in a typed number: a bonus of -0 is written 0, but a multiplier of -0
    was written `-0.0` (a float keeps its sign), shown back as -0 in the edit form and in the
    audit log. It is 0, as the bonus is; a negative multiplier is refused by the switch's
    loader, in the member's language, nothing changed."""
    mia = site.clients["mia"]
    for n, typed in enumerate(("-0", "-۰٫۰", "-0.000")):
        name = f"minus zero {n}"
        added = mia.post("/programs/campaigns/add", **campaign(site, name=name,
                                                               multiplier=typed))
        assert added.status == 200, added.text()[-600:]
        text = site.env.config_path.read_text()
        held = tomllib.loads(text)["coalition"]["tehran-mall"]["campaigns"]
        written = next(c for c in held if c["name"] == name)["multiplier"]
        assert (written, str(written)) == (0.0, "0.0"), (typed, written)
        assert "-0.0" not in text
    answer = refused(site, "mia", "POST", "/programs/campaigns/add",
                     campaign(site, multiplier="-۰٫۵"))
    assert "فیلد ضریب" in text_of(answer) and "باید دست‌کم" in text_of(answer), \
        text_of(answer)[-600:]


def test_thousands_separators_are_read_only_between_groups_of_three(site: Site) -> None:
    """Every typed number takes the thousands separators (`,` and the Arabic `٬`,
    docs/console.md "Bad input"): a campaign's bonus of ۱٬۵۰۰ was refused, while points of
    `1,5` or `۱٬۵` (one and a half, with the separator that looks like the decimal one) were
    read as 15 and adjusted. A separator counts only between groups of three digits."""
    mia, sue = site.clients["mia"], site.clients["sue"]
    for n, (field, typed, wanted) in enumerate((("bonus", "۱٬۵۰۰", 1500),
                                                ("bonus", "1,000", 1000),
                                                ("expire_after_days", "١٬٠٠٠", 1000))):
        name = f"grouped {n}"
        added = mia.post("/programs/campaigns/add", **campaign(site, name=name,
                                                               **{field: typed}))
        assert added.status == 200, (typed, added.text()[-600:])
        held = tomllib.loads(site.env.config_path.read_text())["coalition"]["tehran-mall"]
        assert next(c for c in held["campaigns"] if c["name"] == name)[field] == wanted
    for typed in ("1,5", "۱٬۵", "12,50", "1,,000", ",500", "1٬000,"):
        answer = refused(site, "sue", "POST", "/cards/adjust", {
            "card": site.ids["ref"], "points": typed, "store": S1, "reason": "x"})
        assert "امتیاز باید عدد صحیحی" in text_of(answer), typed
        answer = refused(site, "mia", "POST", "/programs/campaigns/add",
                         campaign(site, bonus=typed))
        assert "باید عدد صحیح باشد" in text_of(answer), typed
    reply = sue.post("/cards/adjust", card=site.ids["ref"], points="۱٬۲۰۰", store=S1,
                     reason="grouped")  # above the approval threshold: waits, as 1200
    assert reply.status == 303 and "۱٬۲۰۰ امتیاز" in sue.get(
        "/adjustments", done=reply.location.split("=")[1]).text(), reply.text()[-600:]
