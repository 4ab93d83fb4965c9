"""Further published vectors: the full X9.24-1 and X9.24-3 sequences (published_vectors.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hsm_sim import primitives as p
from hsm_sim.errors import DukptError, PanError, PinBlockError

V: dict[str, Any] = json.loads((Path(__file__).with_name("published_vectors.json")).read_text())
H = bytes.fromhex
TDES = V["tdes_dukpt_x9_24_1_2009"]
AES = V["aes_dukpt_x9_24_3_2017"]
IPEK = H(TDES["ipek"])
CLEAR_PB = p.pin_block_iso0(TDES["pin"], TDES["pan"])


@pytest.mark.parametrize("row", TDES["initial"] + TDES["rollover"], ids=lambda r: r[0])
def test_tdes_dukpt_sequence(row: list[str]) -> None:
    ksn, txn_key, enc_pb = (H(x) for x in row)
    assert p.tdes_dukpt_ipek(H(TDES["bdk"]), ksn) == IPEK
    assert p.tdes_dukpt_key(IPEK, ksn) == txn_key
    assert p.tdes_encrypt_ecb(p.tdes_dukpt_key(IPEK, ksn, "pin"), CLEAR_PB) == enc_pb


@pytest.mark.parametrize("row", TDES["full_request_macs"], ids=lambda r: r[0])
def test_tdes_dukpt_full_request_mac(row: list[str]) -> None:
    key = p.tdes_dukpt_key(IPEK, H(row[0]), "mac_request")
    assert p.retail_mac(key, TDES["mac_data_ascii"].encode()) == H(row[1])


@pytest.mark.parametrize("row", TDES["data_response"], ids=lambda r: r[0])
def test_tdes_dukpt_data_response(row: list[str]) -> None:
    key = p.tdes_dukpt_key(IPEK, H(row[0]), "data_response")
    data = TDES["mac_data_ascii"].encode()
    assert p.tdes_cbc_encrypt(key, data + bytes(24 - len(data))) == H(row[1])


def test_aes_dukpt_initial_keys() -> None:
    ikid = H(AES["initial_key_id"])
    assert p.aes_dukpt_initial_key(H(AES["bdk"]), ikid) == H(AES["initial_key"])
    assert p.aes_dukpt_initial_key(H(AES["aes256_bdk"]), ikid) == H(AES["aes256_initial_key"])


@pytest.mark.parametrize("row", AES["intermediate_keys"], ids=lambda r: r[0])
def test_aes_dukpt_intermediate_keys(row: list[str]) -> None:
    assert p.aes_dukpt_key(H(AES["initial_key"]), H(row[0]), "transaction") == H(row[1])


@pytest.mark.parametrize("row", AES["cmacs"], ids=lambda r: r[0])
def test_aes_dukpt_working_key_cmacs(row: list[str]) -> None:
    ik, ksn, data = H(AES["initial_key"]), H(row[0]), AES["mac_data_ascii"].encode()
    assert p.aes_cmac(p.aes_dukpt_key(ik, ksn, "mac_generate"), data) == H(row[1])
    assert p.aes_cmac(p.aes_dukpt_key(ik, ksn, "mac_verify"), data) == H(row[2])


def test_aes_dukpt_rejects_counter_with_17_bits() -> None:
    with pytest.raises(DukptError, match="16 one bits"):
        p.aes_dukpt_key(H(AES["initial_key"]), H(AES["counter_with_17_bits"]))


def test_aes_dukpt_pin_key_is_usage_1000_of_the_intermediate_key() -> None:
    # Working keys derive from the intermediate key with usage 1000 (PIN) and an AES-128
    # key type; built by hand from the X9.24-3 derivation data layout.
    ik, ksn = H(AES["initial_key"]), H(AES["intermediate_keys"][0][0])
    inter = p.aes_dukpt_key(ik, ksn, "transaction")
    data = H("0101100000020080") + ksn[4:8] + ksn[8:]
    from cryptography.hazmat.primitives.ciphers import Cipher
    from cryptography.hazmat.primitives.ciphers.algorithms import AES as AESAlg
    from cryptography.hazmat.primitives.ciphers.modes import ECB

    enc = Cipher(AESAlg(inter), ECB()).encryptor()
    assert p.aes_dukpt_key(ik, ksn, "pin") == enc.update(data) + enc.finalize()
    # and a PIN round-trips through ISO format 4 under that key
    block = p.encrypt_pin_block_iso4(p.aes_dukpt_key(ik, ksn, "pin"), "1234", "4111111111111111")
    assert p.decrypt_pin_block_iso4(p.aes_dukpt_key(ik, ksn, "pin"), block, "4111111111111111") == (
        "1234"
    )


ISO0 = V["iso0_psec"]


@pytest.mark.parametrize("row", ISO0["decode"], ids=lambda r: r[0])
def test_iso0_decode_psec(row: list[str]) -> None:
    pin, block = row
    assert p.decode_pin_block_iso0(H(block), ISO0["pan"]) == pin
    assert p.pin_block_iso0(pin, ISO0["pan"]) == H(block)


@pytest.mark.parametrize("row", ISO0["decode_errors"], ids=lambda r: r[2])
def test_iso0_decode_errors_psec(row: list[str]) -> None:
    block, pan, why = row
    expected = PanError if why.startswith("PAN") else PinBlockError
    with pytest.raises(expected):
        p.decode_pin_block_iso0(H(block), pan)
    with pytest.raises(ValueError):  # as psec, every one of them is also a ValueError
        p.decode_pin_block_iso0(H(block), pan)
