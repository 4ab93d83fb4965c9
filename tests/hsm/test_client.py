"""The Hsm interface, run identically in-process and over a real TCP socket."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest

from hsm_sim import primitives as p
from hsm_sim.client import Hsm, InProcessHsm, TcpHsm, connect_hsm
from hsm_sim.errors import (
    DukptError,
    InputError,
    KeyParityError,
    KeySchemeError,
    KeyTypeError,
    LmkError,
    PinBlockError,
    PinError,
    ProtocolError,
)
from hsm_sim.lmk import KeyType
from tests.hsm.conftest import ServerThread
from tests.waits import EVENT

H = bytes.fromhex
PAN = "6280001234567897"


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _clear_tmk(hsm: Hsm, tmk_lmk: str, kcv: str) -> bytes:
    c1, c2 = hsm.export_tmk_components(tmk_lmk)
    tmk = _xor(H(c1.component), H(c2.component))
    assert p.kcv(tmk).hex().upper() == kcv
    assert p.kcv(H(c1.component)).hex().upper() == c1.kcv
    assert p.kcv(H(c2.component)).hex().upper() == c2.kcv
    return tmk


@pytest.fixture
def terminal(hsm: Hsm) -> dict[str, object]:
    """A terminal as the switch would set it up: TMK, then session keys under it."""
    tmk = hsm.generate_tmk()
    clear_tmk = _clear_tmk(hsm, tmk.key_lmk, tmk.kcv)
    keys = hsm.generate_session_keys(tmk.key_lmk)
    # what the terminal does with DE48 MK/PK: decrypt under its TMK, check the KCV
    mac_key = p.tdes_decrypt_ecb(clear_tmk, H(keys.mac.key_kek))
    pin_key = p.tdes_decrypt_ecb(clear_tmk, H(keys.pin.key_kek))
    assert p.kcv(mac_key).hex().upper() == keys.mac.kcv
    assert p.kcv(pin_key).hex().upper() == keys.pin.kcv
    return {"tmk": tmk, "keys": keys, "mac_key": mac_key, "pin_key": pin_key}


def test_diagnostics_is_the_lmk_check_value(hsm: Hsm, engine: object) -> None:
    assert hsm.diagnostics() == engine.lmk_check_value()  # type: ignore[attr-defined]


def test_generated_keys_are_fresh_and_checked(hsm: Hsm) -> None:
    a, b = hsm.generate_key(KeyType.TAK), hsm.generate_key("TAK")
    assert a.key_lmk != b.key_lmk
    assert hsm.kcv(a.key_lmk, KeyType.TAK) == a.kcv
    assert len(a.kcv) == 6 and len(a.key_lmk) == 33


def test_session_keys_reach_the_terminal(hsm: Hsm, terminal: dict[str, object]) -> None:
    keys = terminal["keys"]
    assert hsm.kcv(keys.mac.key_lmk, "TAK") == keys.mac.kcv  # type: ignore[attr-defined]
    assert hsm.kcv(keys.pin.key_lmk, "TPK") == keys.pin.kcv  # type: ignore[attr-defined]
    assert terminal["mac_key"] != terminal["pin_key"]


def test_mac_generate_and_verify(hsm: Hsm, terminal: dict[str, object]) -> None:
    key_lmk = terminal["keys"].mac.key_lmk  # type: ignore[attr-defined]
    data = b"0200" + bytes(range(256)) * 3
    mac = hsm.generate_mac(key_lmk, data)
    assert mac == p.retail_mac(terminal["mac_key"], data)  # type: ignore[arg-type]
    assert hsm.verify_mac(key_lmk, data, mac)
    assert hsm.verify_mac(key_lmk, data, mac[:4])
    assert not hsm.verify_mac(key_lmk, data + b"\x01", mac)
    assert not hsm.verify_mac(key_lmk, data, _xor(mac, H("0000000000000001")))
    assert hsm.generate_mac(key_lmk, b"") == p.retail_mac(terminal["mac_key"], b"")  # type: ignore[arg-type]


def test_mac_key_is_refused_as_a_pin_key(hsm: Hsm, terminal: dict[str, object]) -> None:
    keys = terminal["keys"]
    pin_lmk = hsm.encrypt_pin("1234", PAN)
    # a PIN block really encrypted under the MAC key's clear value
    block = p.tdes_encrypt_ecb(terminal["mac_key"], p.pin_block_iso0("1234", PAN))  # type: ignore[arg-type]
    with pytest.raises((KeyParityError, PinBlockError)):
        hsm.verify_pin(keys.mac.key_lmk, block, PAN, pin_lmk)  # type: ignore[attr-defined]
    with pytest.raises((KeyParityError, PinBlockError)):
        hsm.generate_mac(keys.pin.key_lmk, b"data")  # type: ignore[attr-defined]
    with pytest.raises(KeyParityError):
        hsm.kcv(keys.mac.key_lmk, "TPK")  # type: ignore[attr-defined]


def test_tmk_is_not_a_mac_key(hsm: Hsm) -> None:
    tmk = hsm.generate_tmk()
    with pytest.raises(KeyParityError):
        hsm.generate_mac(tmk.key_lmk, b"data")


def test_pin_verification(hsm: Hsm, terminal: dict[str, object]) -> None:
    tpk = terminal["keys"].pin.key_lmk  # type: ignore[attr-defined]
    pin_key: bytes = terminal["pin_key"]  # type: ignore[assignment]
    stored = hsm.encrypt_pin("246813", PAN)
    assert hsm.verify_pin(
        tpk, p.tdes_encrypt_ecb(pin_key, p.pin_block_iso0("246813", PAN)), PAN, stored
    )
    for wrong in ("246814", "2468", "2468130"):
        block = p.tdes_encrypt_ecb(pin_key, p.pin_block_iso0(wrong, PAN))
        assert not hsm.verify_pin(tpk, block, PAN, stored)
    # the right PIN entered for another card does not match this card's stored PIN
    other_pan = "6280001234567905"
    block = p.tdes_encrypt_ecb(pin_key, p.pin_block_iso0("246813", other_pan))
    with pytest.raises(PinBlockError):
        hsm.verify_pin(tpk, block, other_pan, stored)


def test_pin_set_at_the_terminal(hsm: Hsm, terminal: dict[str, object]) -> None:
    tpk = terminal["keys"].pin.key_lmk  # type: ignore[attr-defined]
    pin_key: bytes = terminal["pin_key"]  # type: ignore[assignment]
    block = p.tdes_encrypt_ecb(pin_key, p.pin_block_iso0("9090", PAN))
    stored = hsm.translate_pin_to_lmk(tpk, block, PAN)
    assert stored == hsm.encrypt_pin("9090", PAN)
    assert hsm.verify_pin(tpk, block, PAN, stored)


def test_garbled_pin_block_is_an_error_not_a_match(hsm: Hsm, terminal: dict[str, object]) -> None:
    tpk = terminal["keys"].pin.key_lmk  # type: ignore[attr-defined]
    stored = hsm.encrypt_pin("1234", PAN)
    garbled = p.tdes_encrypt_ecb(bytes(16), p.pin_block_iso0("1234", PAN))
    # with this fixed garbage the decrypted block is deterministic and malformed
    try:
        ok = hsm.verify_pin(tpk, garbled, PAN, stored)
    except PinBlockError:
        return
    assert not ok


def test_dukpt_pin_verification(hsm: Hsm) -> None:
    bdk = hsm.form_key("BDK", ["0123456789ABCDEFFEDCBA9876543210", "00" * 16])
    assert bdk.kcv == "08D7B4"
    pan = "4012345678909"
    stored = hsm.encrypt_pin("1234", pan)
    # ANSI X9.24-1 A.4 encrypted PIN blocks for the first KSNs
    for ksn, block in [
        ("FFFF9876543210E00001", "1B9C1845EB993A7A"),
        ("FFFF9876543210E00002", "10A01C8D02C69107"),
        ("FFFF9876543210EFF800", "33365F5CC6F23C35"),
    ]:
        assert hsm.verify_pin_dukpt(bdk.key_lmk, H(ksn), H(block), pan, stored)
    assert not hsm.verify_pin_dukpt(
        bdk.key_lmk,
        H("FFFF9876543210E00001"),
        H("1B9C1845EB993A7A"),
        pan,
        hsm.encrypt_pin("1235", pan),
    )
    with pytest.raises(PinBlockError):  # a block replayed under another KSN
        hsm.verify_pin_dukpt(
            bdk.key_lmk, H("FFFF9876543210E00002"), H("1B9C1845EB993A7A"), pan, stored
        )
    with pytest.raises(DukptError):
        hsm.verify_pin_dukpt(
            bdk.key_lmk, H("FFFF9876543210E00000"), H("1B9C1845EB993A7A"), pan, stored
        )
    with pytest.raises(DukptError):
        hsm.verify_pin_dukpt(bdk.key_lmk, H("FFFF98765432"), H("1B9C1845EB993A7A"), pan, stored)


def test_form_key_checks(hsm: Hsm) -> None:
    with pytest.raises(KeyParityError):
        hsm.form_key("BDK", ["0123456789ABCDEFFEDCBA9876543210", "01" + "00" * 15])
    with pytest.raises(InputError):
        hsm.form_key("BDK", ["0123456789ABCDEFFEDCBA9876543210"])
    with pytest.raises(InputError):
        hsm.form_key("BDK", ["0123", "4567"])


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda h: h.encrypt_pin("12", PAN), PinError),
        (lambda h: h.encrypt_pin("12x4", PAN), PinError),
        (lambda h: h.kcv("X" + "0" * 32, "TAK"), KeySchemeError),
        (lambda h: h.kcv("U" + "0" * 32, "XYZ"), KeyTypeError),
        (lambda h: h.generate_key("nope"), KeyTypeError),
        (lambda h: h.verify_mac("U" + "0" * 32, b"x", b"12"), InputError),
        (lambda h: h.verify_pin("U" + "0" * 32, b"1234", PAN, "0" * 16), InputError),
        (lambda h: h.verify_pin("U" + "0" * 32, bytes(8), PAN, "zz"), InputError),
    ],
)
def test_bad_arguments(hsm: Hsm, call: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        call(hsm)  # type: ignore[operator]


def test_clients_satisfy_the_protocol(hsm: Hsm) -> None:
    assert isinstance(hsm, Hsm)


def test_connect_hsm_inproc(lmk_path: Path) -> None:
    hsm = connect_hsm("inproc", lmk_path=lmk_path)
    assert isinstance(hsm, InProcessHsm)
    key = hsm.generate_key("TAK")
    assert connect_hsm("inproc", lmk_path=lmk_path).kcv(key.key_lmk, "TAK") == key.kcv


def test_connect_hsm_tcp(server: ServerThread) -> None:
    hsm = connect_hsm(f"tcp://{server.host}:{server.port}", timeout=EVENT)
    assert isinstance(hsm, TcpHsm)
    assert len(hsm.diagnostics()) == 16
    hsm.close()


@pytest.mark.parametrize("url", ["tcp://nohost", "udp://1.2.3.4:5", "tcp://:1500", ""])
def test_connect_hsm_bad_urls(url: str) -> None:
    with pytest.raises(InputError):
        connect_hsm(url)


def test_connect_hsm_inproc_needs_an_lmk() -> None:
    with pytest.raises(LmkError):
        connect_hsm("inproc")


def test_tcp_client_is_thread_safe(server: ServerThread) -> None:
    hsm = TcpHsm(server.host, server.port, timeout=EVENT)
    key = hsm.generate_key("TAK")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                data = f"{n}-{i}".encode()
                assert hsm.verify_mac(key.key_lmk, data, hsm.generate_mac(key.key_lmk, data))
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hsm.close()
    assert not errors


def test_tcp_client_reconnects_after_the_server_restarts(engine: object) -> None:
    srv = ServerThread(engine)  # type: ignore[arg-type]
    hsm = TcpHsm(srv.host, srv.port, timeout=EVENT)
    assert hsm.diagnostics()
    srv.stop()
    with pytest.raises(OSError):
        hsm.diagnostics()
    hsm.close()


def test_tcp_client_reconnects_after_a_broken_connection(server: ServerThread) -> None:
    hsm = TcpHsm(server.host, server.port, timeout=EVENT)
    assert hsm.diagnostics()
    sock = hsm._sock
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)  # the connection breaks under the client
    with pytest.raises(OSError):
        hsm.diagnostics()
    assert len(hsm.diagnostics()) == 16  # the next call opens a new connection
    hsm.close()


def test_connect_hsm_can_create_a_missing_lmk(tmp_path: Path) -> None:
    path = tmp_path / "var" / "lmk.json"
    with pytest.raises(LmkError, match="lps-hsm init"):
        connect_hsm("inproc", lmk_path=path)
    first = connect_hsm("inproc", lmk_path=path, create_lmk=True).diagnostics()
    assert path.exists()
    # an existing LMK is never replaced
    assert connect_hsm("inproc", lmk_path=path, create_lmk=True).diagnostics() == first


def test_mac_to_verify_is_4_or_8_bytes(hsm: Hsm) -> None:
    key = hsm.generate_key("TAK")
    mac = hsm.generate_mac(key.key_lmk, b"x")
    for bad in (mac[:3], mac[:5], mac + b"\x00", b""):
        with pytest.raises(InputError):
            hsm.verify_mac(key.key_lmk, b"x", bad)


def test_tcp_client_drops_a_connection_that_answers_out_of_step() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def fake_hsm() -> None:
        for wrong in (True, False):
            conn, _ = listener.accept()
            with conn:
                (n,) = struct.unpack(">H", conn.recv(2, socket.MSG_WAITALL))
                request = conn.recv(n, socket.MSG_WAITALL)
                header = b"9999" if wrong else request[:4]
                payload = header + b"ND00" + b"0123456789ABCDEF" + b"0007-L001"
                conn.sendall(struct.pack(">H", len(payload)) + payload)
                conn.recv(1)  # until the client closes

    thread = threading.Thread(target=fake_hsm, daemon=True)
    thread.start()
    hsm = TcpHsm("127.0.0.1", port, timeout=EVENT)
    with pytest.raises(ProtocolError, match="header"):
        hsm.diagnostics()
    assert hsm.diagnostics() == "0123456789ABCDEF"  # on a new connection
    hsm.close()
    thread.join(timeout=EVENT)
    listener.close()
    assert not thread.is_alive()
