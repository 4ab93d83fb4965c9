"""The failover rules without sockets: the order addresses are tried in, and where a pending
reversal is due and which answer settles it (docs/agent.md "Switch failover")."""

from __future__ import annotations

from pathlib import Path

from iso8583 import Message
from terminal_agent.failover import (
    NOT_FOUND_ON,
    ORIGINAL_SWITCH,
    HostRing,
    note_not_found,
    orphaned,
    reversal_due,
    settles_reversal,
)
from terminal_agent.iso import Fields

A, B, C = "a:8583", "b:8583", "c:8583"


def test_failures_walk_the_list_then_a_round_restarts_from_the_first() -> None:
    ring = HostRing((A, B, C))
    assert ring.current == A and ring.on_first
    assert ring.failed() is False and ring.current == B
    assert ring.failed() is False and ring.current == C
    assert ring.failed() is True and ring.current == A  # every one failed: back off, then A
    assert ring.failed() is False and ring.current == B


def test_a_sign_on_starts_a_new_count() -> None:
    ring = HostRing((A, B))
    ring.failed()
    ring.signed_on()  # on B
    assert ring.current == B and not ring.on_first
    assert ring.failed() is False and ring.current == A  # B fails: A is tried before backing off
    assert ring.failed() is True and ring.current == A


def test_one_address_backs_off_after_every_failure() -> None:
    ring = HostRing((A,))
    assert ring.failed() is True and ring.current == A
    assert ring.failed() is True and ring.current == A


def test_back_to_first_and_a_new_list() -> None:
    ring = HostRing((A, B, C))
    ring.failed()
    ring.back_to_first()
    assert ring.current == A and ring.failures == 0
    ring.failed()  # on B
    assert ring.replace((C, B)) is False and ring.current == B and ring.index == 1
    assert ring.replace((A, C)) is True and ring.current == A  # B left the list: go to A


def test_a_reversal_is_due_everywhere_until_a_switch_says_it_never_saw_the_original() -> None:
    ctx = {ORIGINAL_SWITCH: A}
    assert reversal_due(ctx, A) and reversal_due(ctx, B)
    # B answered 25 while the original went to A: only A can settle it
    assert not settles_reversal(ctx, B, "25", (A, B))
    kept = note_not_found(ctx, B)
    assert kept[NOT_FOUND_ON] == [B] and kept[ORIGINAL_SWITCH] == A
    assert not reversal_due(kept, B) and reversal_due(kept, A)
    assert note_not_found(kept, B) == kept  # noted once
    assert settles_reversal(kept, A, "25", (A, B))  # A never saw it either: harmless
    assert settles_reversal(kept, A, "00", (A, B))


def test_any_answer_but_25_settles_a_reversal_wherever_it_comes_from() -> None:
    ctx = {ORIGINAL_SWITCH: A}
    for code in ("00", "12", "05", "94"):
        assert settles_reversal(ctx, B, code, (A, B))


def test_25_settles_when_the_original_switch_is_unknown_or_gone() -> None:
    assert settles_reversal({}, B, "25", (A, B))  # written before the agent knew hosts
    assert settles_reversal({ORIGINAL_SWITCH: C}, B, "25", (A, B))
    kept = note_not_found({ORIGINAL_SWITCH: A}, B)
    assert not orphaned(kept, (A, B))
    assert orphaned(kept, (B, C))  # the operator took A out of the list
    assert not orphaned({ORIGINAL_SWITCH: A}, (B, C))  # never answered anywhere yet


class _Here:
    """Where the drain runs: the address in use and the configured list (no connection: due()
    only chooses)."""

    def __init__(self, host: str, hosts: tuple[str, ...]) -> None:
        from terminal_agent.config import from_mapping

        self.host = host
        self.cfg = from_mapping({"terminal_id": "T1", "store_id": "S1"}, "test",
                                {"hosts": list(hosts)})
        self.changes = 0

    def outbox_changed(self) -> None:
        self.changes += 1

    async def request(self, mti: str, fields: Fields, *, signed: bool = True,
                      timeout: float | None = None) -> Message:
        raise AssertionError("due() sends nothing")


def test_the_drain_skips_a_kept_reversal_and_settles_one_whose_switch_left(tmp_path: Path) -> None:
    from terminal_agent.drain import OutboxDrain
    from terminal_agent.store import Outbox

    box = Outbox(tmp_path)
    kept = box.add("reversal", "0400", {2: "x"}, note_not_found({ORIGINAL_SWITCH: A}, B))
    fresh = box.add("reversal", "0400", {2: "y"}, {ORIGINAL_SWITCH: A})
    advice = box.add("advice", "0220", {2: "z"}, {})
    on_b = _Here(B, (A, B))
    drain = OutboxDrain(on_b, box, lambda *_: None)
    assert [e.id for e in drain.due()] == [fresh.id, advice.id]
    assert drain.reversals_due()
    on_a = _Here(A, (A, B))
    assert [e.id for e in OutboxDrain(on_a, box, lambda *_: None).due()] == [
        kept.id, fresh.id, advice.id]
    box.remove(fresh.id)
    assert not drain.reversals_due()  # only the kept one is left: nothing due on B
    retired = _Here(B, (B, C))  # the operator took A out of the list
    assert [e.id for e in OutboxDrain(retired, box, lambda *_: None).due()] == [
        advice.id]
    assert box.count("reversal") == 0 and retired.changes == 1
