"""A journal row's reply and detail are kept as JSON (docs/switch.md, the journal's `response`
and `detail` columns): the reply's fields by number, text as text, binary as `{"b": hex}`, read
back to the same message byte for byte (a retransmission's answer, docs/protocol.md §4)."""

from __future__ import annotations

import json
import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from iso8583 import Message
from switch.core.codes import RC
from switch.journal.batch import stored
from switch.journal.codec import (
    detail_to_json,
    message_from_json,
    message_to_json,
    reply_of,
    reply_to_json,
)

VALUE = st.one_of(st.text(alphabet="09 Az\u0639\u200c\"\\\x00", max_size=12),
                  st.binary(max_size=8))
MESSAGE = st.builds(Message, st.sampled_from(["0210", "0410", "0810"]),
                    st.dictionaries(st.integers(2, 128), VALUE, max_size=8),
                    st.one_of(st.none(), st.binary(min_size=5, max_size=5)))
JSONABLE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(alphabet="a0\u0639\"\\\n", max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(alphabet="ab", max_size=3), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=30, deadline=None)
@given(MESSAGE)
def test_a_reply_is_kept_as_json_and_read_back_the_same(msg: Message) -> None:
    fields = {str(n): {"b": v.hex()} if isinstance(v, bytes) else v
              for n, v in msg.fields.items()}
    expected = json.dumps({"mti": msg.mti, "tpdu": msg.tpdu.hex() if msg.tpdu else None,
                           "fields": fields}, separators=(",", ":"), ensure_ascii=False)
    text = message_to_json(msg)
    assert text == expected
    assert message_from_json(text) == msg


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(alphabet="ab", min_size=1, max_size=3), JSONABLE, max_size=4))
def test_a_detail_is_kept_as_compact_json(detail: dict[str, Any]) -> None:
    assert detail_to_json(detail) == (json.dumps(detail, separators=(",", ":")) if detail
                                      else None)


@settings(max_examples=30, deadline=None)
@given(MESSAGE, st.dictionaries(st.text(alphabet="ab", min_size=1, max_size=3), JSONABLE,
                                max_size=4))
def test_a_row_carried_to_the_commit_process_is_stored_as_the_same_json(
        msg: Message, detail: dict[str, Any]) -> None:
    """A batch's journal rows carry the reply and detail as data, through the commit
    process's pipe (a pickle), and `stored` writes them as the JSON above."""
    head, tail = tuple(range(22)), (7,)
    carried = pickle.loads(pickle.dumps(
        [(*head, reply_of(msg), detail or None, *tail), (*head, None, None, *tail)],
        protocol=pickle.HIGHEST_PROTOCOL))
    assert stored(carried) == [(*head, message_to_json(msg), detail_to_json(detail), *tail),
                               (*head, None, None, *tail)]


def test_the_response_code_is_carried_as_plain_text() -> None:
    """The core's `RC` member goes to the commit process as its text: the same JSON, and no
    enum class to pickle and look up again."""
    msg = Message("0210", {11: "000001", 39: RC.APPROVED})
    reply = reply_of(msg)
    assert type(reply[2][39]) is str and reply[2][39] == "00"
    assert msg.fields[39] is RC.APPROVED  # the message itself is left as it was
    assert b"RC" not in pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    assert reply_to_json(reply) == message_to_json(msg) \
        == '{"mti":"0210","tpdu":null,"fields":{"11":"000001","39":"00"}}'
