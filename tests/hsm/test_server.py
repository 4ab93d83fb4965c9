"""The TCP server with real sockets: every command layout, bad framing, isolation."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsm_sim import primitives as p
from hsm_sim.engine import HsmEngine
from hsm_sim.hostcmd import FIRMWARE, HANDLERS, handle, response_code
from hsm_sim.lmk import KeyType
from tests.hsm.conftest import FIXED_LMK, ServerThread
from tests.waits import EVENT

H = bytes.fromhex
CLEAR_TAK = H("0123456789ABCDEFFEDCBA9876543210")
TAK = FIXED_LMK.wrap(CLEAR_TAK, KeyType.TAK).encode()


def frame(payload: bytes) -> bytes:
    return struct.pack(">H", len(payload)) + payload


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def read_frame(sock: socket.socket) -> bytes:
    (n,) = struct.unpack(">H", recv_exactly(sock, 2))
    return recv_exactly(sock, n)


@pytest.fixture
def conn(server: ServerThread) -> Iterator[socket.socket]:
    sock = socket.create_connection((server.host, server.port), timeout=EVENT)
    yield sock
    sock.close()


def ask(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(frame(payload))
    return read_frame(sock)


def test_nc_diagnostics(conn: socket.socket, engine: HsmEngine) -> None:
    reply = ask(conn, b"0001NC")
    assert reply == b"0001ND00" + engine.lmk_check_value().encode() + FIRMWARE.encode()


def test_header_is_echoed_byte_for_byte(conn: socket.socket) -> None:
    assert ask(conn, b"\xff\x00ABNC")[:8] == b"\xff\x00ABND00"


@pytest.mark.parametrize(
    "payload,reply",
    [
        (b"0002XY", b"0002XZ68"),  # unknown command
        (b"0003Z9", b"0003ZZ68"),  # unknown, and no "plus one" exists
        (b"0004nc", b"0004nd68"),  # commands are case-sensitive
        (b"12", b"12  ZZ15"),  # shorter than header + command
        (b"0005", b"0005ZZ15"),
        (b"0006\xc3\xa9", b"0006ZZ15"),  # command not ASCII
        (b"0007A0", b"0007A115"),  # fields missing
        (b"0008A00999U", b"0008A104"),  # unknown key type
        (b"0009A00003X", b"0009A126"),  # unsupported key scheme
        (b"0010A02003U", b"0010A115"),  # mode out of range
        (b"0011NCxx", b"0011ND15"),  # trailing bytes
        (b"0012BU031U" + b"G" * 32, b"0012BV15"),  # key not hex
        (b"0013BU021" + TAK, b"0013BV04"),  # 02 is ambiguous in LPS: use FF
    ],
)
def test_malformed_requests_get_error_codes(
    conn: socket.socket, payload: bytes, reply: bytes
) -> None:
    assert ask(conn, payload) == reply
    assert ask(conn, b"9999NC")[:8] == b"9999ND00"  # and the connection still works


def test_a0_generates_a_key(conn: socket.socket) -> None:
    reply = ask(conn, b"0001A00003U")
    assert reply[:8] == b"0001A100"
    key, kcv = reply[8:41].decode(), reply[41:47].decode()
    assert len(reply) == 47 and key[0] == "U"
    assert p.kcv(FIXED_LMK.unwrap(key, KeyType.TAK)).hex().upper() == kcv


def test_a0_mode_1_exports_under_tmk_and_zmk(conn: socket.socket) -> None:
    clear_tmk = H("0123456789ABCDEF0123456789ABCDEF")[::-1]
    clear_tmk = p.des_odd_parity(clear_tmk)
    tmk = FIXED_LMK.wrap(clear_tmk, KeyType.TMK).encode()
    reply = ask(conn, b"0001A0" + b"1" + b"070" + b"U" + b";1" + tmk + b"X")
    assert reply[:8] == b"0001A100"
    key_lmk, key_tmk, kcv = reply[8:41].decode(), reply[42:74].decode(), reply[74:80].decode()
    assert reply[41:42] == b"X" and len(reply) == 80
    clear = FIXED_LMK.unwrap(key_lmk, KeyType.TPK)
    assert p.tdes_decrypt_ecb(clear_tmk, H(key_tmk)) == clear
    assert p.kcv(clear).hex().upper() == kcv
    # without the ;flag the KEK is a ZMK; a TMK given as ZMK fails its parity check
    assert ask(conn, b"0002A0" + b"1" + b"001" + b"U" + tmk + b"X") == b"0002A110"
    zmk = FIXED_LMK.wrap(clear_tmk, KeyType.ZMK).encode()
    assert ask(conn, b"0003A0" + b"1" + b"001" + b"U" + zmk + b"X")[:8] == b"0003A100"
    # a ZMK is never sent to a terminal, a BDK never leaves; the TMK scheme must be X
    assert ask(conn, b"0004A0" + b"1" + b"000" + b"U" + b";1" + tmk + b"X") == b"0004A104"
    assert ask(conn, b"0006A0" + b"1" + b"009" + b"U" + b";1" + tmk + b"X") == b"0006A104"
    assert ask(conn, b"0007A0" + b"1" + b"009" + b"U" + zmk + b"X") == b"0007A104"
    assert ask(conn, b"0005A0" + b"1" + b"070" + b"U" + b";1" + tmk + b"U") == b"0005A126"


def test_hc_rotates_a_tmk(conn: socket.socket) -> None:
    clear_tmk = p.des_odd_parity(bytes(range(16)))
    tmk = FIXED_LMK.wrap(clear_tmk, KeyType.TMK).encode()
    reply = ask(conn, b"0001HC" + tmk + b";XU0")
    assert reply[:8] == b"0001HD00" and reply[8:9] == b"X"
    under_old, new_lmk, kcv = reply[9:41], reply[41:74].decode(), reply[74:80].decode()
    new_clear = FIXED_LMK.unwrap(new_lmk, KeyType.TMK)
    assert p.tdes_decrypt_ecb(clear_tmk, H(under_old.decode())) == new_clear
    assert p.kcv(new_clear).hex().upper() == kcv
    assert ask(conn, b"0002HC" + tmk + b"XU0") == b"0002HD15"


def test_a4_forms_and_ne_splits(conn: socket.socket) -> None:
    reply = ask(conn, b"0001A42009U0123456789ABCDEFFEDCBA9876543210" + b"0" * 32)
    assert reply[:8] == b"0001A500" and reply[41:47] == b"08D7B4"
    bdk = reply[8:41]
    split = ask(conn, b"0002NE009" + bdk + b"3")
    assert split[:8] == b"0002NF00" and len(split) == 8 + 3 * 38
    parts = [H(split[8 + i * 38 : 8 + i * 38 + 32].decode()) for i in range(3)]
    key = bytes(a ^ b ^ c for a, b, c in zip(*parts, strict=True))
    assert key == H("0123456789ABCDEFFEDCBA9876543210")
    for i, part in enumerate(parts):
        assert split[8 + i * 38 + 32 : 8 + i * 38 + 38].decode() == p.kcv(part).hex().upper()


def test_bu_check_value(conn: socket.socket) -> None:
    assert ask(conn, b"0001BU031" + TAK) == b"0001BV0008D7B4"
    assert ask(conn, b"0002BUFF1" + TAK + b";003") == b"0002BV0008D7B4"
    assert ask(conn, b"0003BUFF1" + TAK + b";070") == b"0003BV10"  # not a TPK
    assert ask(conn, b"0004BU032" + TAK) == b"0004BV26"


def test_m6_m8_binary_hex_and_text(conn: socket.socket) -> None:
    data = bytes(range(256))
    mac = p.retail_mac(CLEAR_TAK, data)
    # mode 0, input format 0 (binary), MAC size 1 (16H), algorithm 3, padding 1
    reply = ask(conn, b"0001M6" + b"00131" + b"003" + TAK + b"0100" + data)
    assert reply == b"0001M700" + mac.hex().upper().encode()
    # input format 1: the message as hex digits, length counts the hex digits
    hexdata = data[:10].hex().upper().encode()
    reply = ask(conn, b"0002M6" + b"01131" + b"003" + TAK + b"0014" + hexdata)
    assert reply == b"0002M700" + p.retail_mac(CLEAR_TAK, data[:10]).hex().upper().encode()
    # MAC size 0: 8 hex digits; padding method 2
    reply = ask(conn, b"0003M6" + b"02032" + b"003" + TAK + b"0005" + b"hello")
    assert reply == b"0003M700" + p.retail_mac(CLEAR_TAK, b"hello", 2)[:4].hex().upper().encode()
    verify = b"0004M8" + b"00131" + b"003" + TAK + b"0100" + data + mac.hex().upper().encode()
    assert ask(conn, verify) == b"0004M900"
    bad = verify[:-1] + (b"0" if verify[-1:] != b"0" else b"1")
    assert ask(conn, b"0005" + bad[4:]) == b"0005M901"


@pytest.mark.parametrize(
    "options,key_type,code",
    [
        (b"10131", b"003", b"15"),  # mode 1 (first block of several) unsupported
        (b"03131", b"003", b"15"),  # input format 3
        (b"00231", b"003", b"15"),  # MAC size 2
        (b"00111", b"003", b"15"),  # algorithm 1
        (b"00133", b"003", b"15"),  # padding 3
        (b"00131", b"070", b"04"),  # a TPK is not a MAC key
        (b"00131", b"008", b"10"),  # a TAK is not a ZAK (parity check under the ZAK variant)
    ],
)
def test_m6_bad_options(conn: socket.socket, options: bytes, key_type: bytes, code: bytes) -> None:
    reply = ask(conn, b"0001M6" + options + key_type + TAK + b"0002ab")
    assert reply == b"0001M7" + code


def test_m6_message_shorter_than_its_length(conn: socket.socket) -> None:
    assert ask(conn, b"0001M6" + b"00131" + b"003" + TAK + b"00FFab") == b"0001M715"


def test_pin_commands(conn: socket.socket) -> None:
    clear_tpk = p.des_odd_parity(H("1111111111111111222222222222222F"))
    tpk = FIXED_LMK.wrap(clear_tpk, KeyType.TPK).encode()
    pan = "5555555551234567"
    account = pan[-13:-1].encode()
    reply = ask(conn, b"0001BA" + b"1234FFFFFFFFF" + account)
    assert reply[:8] == b"0001BB00" and len(reply) == 24
    pin_lmk = reply[8:]
    block = p.tdes_encrypt_ecb(clear_tpk, p.pin_block_iso0("1234", pan)).hex().upper().encode()
    assert ask(conn, b"0002JC" + tpk + block + b"01" + account) == b"0002JD00" + pin_lmk
    assert ask(conn, b"0003BC" + tpk + block + b"01" + account + pin_lmk) == b"0003BD00"
    wrong = p.tdes_encrypt_ecb(clear_tpk, p.pin_block_iso0("4321", pan)).hex().upper().encode()
    assert ask(conn, b"0004BC" + tpk + wrong + b"01" + account + pin_lmk) == b"0004BD01"
    assert ask(conn, b"0005BC" + tpk + block + b"03" + account + pin_lmk) == b"0005BD23"
    assert ask(conn, b"0006BA" + b"12FFFFFFFFFFF" + account) == b"0006BB24"
    assert ask(conn, b"0007BC" + tpk + block + b"01" + b"12345678901X" + pin_lmk) == b"0007BD15"


def test_gu_dukpt(conn: socket.socket) -> None:
    bdk = FIXED_LMK.wrap(H("0123456789ABCDEFFEDCBA9876543210"), KeyType.BDK).encode()
    account = b"401234567890"
    pin_lmk = ask(conn, b"0001BA" + b"1234FFFFFFFFF" + account)[8:]
    ok = b"0" + bdk + b"A05" + b"FFFF9876543210E00001" + b"1B9C1845EB993A7A" + account + pin_lmk
    assert ask(conn, b"0002GU" + ok) == b"0002GV00"
    wrong_pin = ask(conn, b"0003BA" + b"9999FFFFFFFFF" + account)[8:]
    assert ask(conn, b"0004GU" + ok[:-16] + wrong_pin) == b"0004GV01"
    replay = ok.replace(b"E00001", b"E00002")
    assert ask(conn, b"0005GU" + replay) == b"0005GV20"
    assert ask(conn, b"0006GU" + b"1" + ok[1:]) == b"0006GV15"


def test_keep_alive_is_not_answered(conn: socket.socket) -> None:
    conn.sendall(struct.pack(">H", 0) + frame(b"0001NC"))
    assert read_frame(conn)[:8] == b"0001ND00"


def test_pipelined_requests_are_answered_in_order(conn: socket.socket) -> None:
    conn.sendall(b"".join(frame(f"{i:04d}NC".encode()) for i in range(20)))
    assert [read_frame(conn)[:4] for _ in range(20)] == [f"{i:04d}".encode() for i in range(20)]


def test_a_stalled_or_broken_client_does_not_disturb_others(server: ServerThread) -> None:
    addr = (server.host, server.port)
    stalled = socket.create_connection(addr, timeout=EVENT)
    stalled.sendall(struct.pack(">H", 100) + b"0001NC")  # promises 100 bytes, sends 6
    half = socket.create_connection(addr, timeout=EVENT)
    half.sendall(b"\x00")  # half a length prefix, then gone
    half.close()
    garbage = socket.create_connection(addr, timeout=EVENT)
    garbage.sendall(frame(b"\x00" * 3000))
    assert read_frame(garbage) == b"\x00" * 4 + b"ZZ15"
    good = socket.create_connection(addr, timeout=EVENT)
    for i in range(5):
        assert ask(good, f"{i:04d}NC".encode())[:8] == f"{i:04d}ND00".encode()
    stalled.close()
    garbage.close()
    assert ask(good, b"0009NC")[:8] == b"0009ND00"
    good.close()


def test_response_code_rule() -> None:
    assert response_code("M6") == "M7"
    assert response_code("A0") == "A1"
    assert response_code("HC") == "HD"
    assert response_code("AZ") == "ZZ"
    assert response_code("??") == "ZZ"


def _well_formed_reply(payload: bytes, reply: bytes) -> None:
    assert reply[:4] == payload[:4].ljust(4, b" ")
    assert len(reply) >= 8
    assert reply[6:8].isdigit()
    assert reply[6:8] != b"41", "internal error: a request reached an unexpected exception"
    if reply[6:8] != b"00":
        assert len(reply) == 8


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=200))
def test_handle_never_raises_on_random_bytes(engine: HsmEngine, payload: bytes) -> None:
    _well_formed_reply(payload, handle(engine, payload))


@settings(max_examples=500, deadline=None)
@given(
    command=st.sampled_from(sorted(HANDLERS)),
    body=st.one_of(
        st.binary(max_size=120),
        st.text(alphabet="0123456789ABCDEFU;X", max_size=120).map(str.encode),
    ),
    with_key=st.booleans(),
)
def test_handle_never_raises_on_damaged_commands(
    engine: HsmEngine, command: str, body: bytes, with_key: bool
) -> None:
    # known commands with random fields, sometimes with a real key in the usual place
    if with_key:
        body = body[:4] + TAK + body[4:]
    payload = b"0001" + command.encode() + body
    _well_formed_reply(payload, handle(engine, payload))
