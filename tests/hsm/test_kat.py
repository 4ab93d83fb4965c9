"""Every case of the shared known-answer file tests/vectors/crypto_kat.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hsm_sim import primitives as p

KAT_PATH = Path(__file__).resolve().parents[1] / "vectors" / "crypto_kat.json"
KAT: dict[str, Any] = json.loads(KAT_PATH.read_text())
H = bytes.fromhex

# Every section of the file and the test that covers it; a new section fails the suite
# until someone writes its test.
COVERED_SECTIONS = {
    "tdes_kcv",
    "aes_kcv",
    "iso9797_alg3_retail_mac",
    "aes_cmac_rfc4493",
    "pinblock_iso0",
    "pinblock_iso4",
    "tdes_dukpt_x9_24_1_2009",
    "aes_dukpt_x9_24_3_2017",
    "_about",
}


def test_every_section_is_covered() -> None:
    assert set(KAT) == COVERED_SECTIONS


@pytest.mark.parametrize("case", KAT["tdes_kcv"]["cases"], ids=lambda c: c["kcv"])
def test_tdes_kcv(case: dict[str, str]) -> None:
    expected = H(case["kcv"])
    assert p.kcv(H(case["key"]), "tdes", len(expected)) == expected


@pytest.mark.parametrize("case", KAT["aes_kcv"]["cases"], ids=lambda c: c["kcv"])
def test_aes_kcv(case: dict[str, str]) -> None:
    expected = H(case["kcv"])
    assert p.kcv(H(case["key"]), "aes", len(expected)) == expected


@pytest.mark.parametrize("case", KAT["iso9797_alg3_retail_mac"]["cases"], ids=lambda c: c["mac"])
def test_retail_mac(case: dict[str, Any]) -> None:
    mac = p.retail_mac(H(case["key"]), case["data_ascii"].encode("ascii"), case["padding"])
    assert mac == H(case["mac"])


@pytest.mark.parametrize("case", KAT["aes_cmac_rfc4493"]["cases"], ids=lambda c: f"len{c[0]}")
def test_aes_cmac_rfc4493(case: list[Any]) -> None:
    section = KAT["aes_cmac_rfc4493"]
    length, expected = case
    message = H(section["message_full"])[:length]
    assert p.aes_cmac(H(section["key"]), message) == H(expected)


@pytest.mark.parametrize("case", KAT["pinblock_iso0"]["cases"], ids=lambda c: c["pin"])
def test_pin_block_iso0(case: dict[str, str]) -> None:
    block = p.pin_block_iso0(case["pin"], case["pan"])
    assert block == H(case["clear_pinblock"])
    assert p.decode_pin_block_iso0(block, case["pan"]) == case["pin"]


@pytest.mark.parametrize("case", KAT["pinblock_iso4"]["cases"], ids=lambda c: c["pan"])
def test_pin_block_iso4_decrypts(case: dict[str, str]) -> None:
    key, block = H(case["key"]), H(case["enc_pinblock"])
    assert p.decrypt_pin_block_iso4(key, block, case["pan"]) == case["pin"]


@pytest.mark.parametrize("case", KAT["pinblock_iso4"]["cases"], ids=lambda c: c["pan"])
def test_pin_block_iso4_encrypts_to_published_block(case: dict[str, str]) -> None:
    # The block's random fill, recovered by decryption, reproduces the published block.
    fill = H("146C6601F4A8035C")
    block = p.encrypt_pin_block_iso4(H(case["key"]), case["pin"], case["pan"], random_fill=fill)
    assert block == H(case["enc_pinblock"])


@pytest.mark.parametrize("case", KAT["pinblock_iso4"]["pan_field_examples"], ids=lambda c: c[0])
def test_iso4_pan_field(case: list[str]) -> None:
    assert p.pan_field_iso4(case[0]) == H(case[1])


DUKPT = KAT["tdes_dukpt_x9_24_1_2009"]
DUKPT_MAC_DATA = b"4012345678909D987"  # the X9.24-1 A.4 MAC and data input


def test_tdes_dukpt_ipek() -> None:
    assert p.tdes_dukpt_ipek(H(DUKPT["bdk"]), H(DUKPT["iksn"])) == H(DUKPT["ipek"])


def test_tdes_dukpt_clear_pin_block() -> None:
    assert p.pin_block_iso0(DUKPT["pin"], DUKPT["pan"]) == H(DUKPT["clear_pinblock"])


def test_tdes_dukpt_variant_masks() -> None:
    # A variant key XOR the transaction key is exactly the published mask.
    ipek, ksn = H(DUKPT["ipek"]), H(DUKPT["initial"][0][0])
    txn = p.tdes_dukpt_key(ipek, ksn)
    for usage in ("pin", "mac_request", "mac_response"):
        variant = p.tdes_dukpt_key(ipek, ksn, usage)
        mask = bytes(a ^ b for a, b in zip(variant, txn, strict=True))
        assert mask == H(DUKPT["variants"][usage])
    # data_request: the variant, then each half encrypted under the variant key itself
    masked = bytes(
        a ^ b for a, b in zip(txn, H(DUKPT["variants"]["data_request"].split()[0]), strict=True)
    )
    expected = p.tdes_encrypt_ecb(masked, masked[:8]) + p.tdes_encrypt_ecb(masked, masked[8:])
    assert p.tdes_dukpt_key(ipek, ksn, "data_request") == expected


@pytest.mark.parametrize("row", DUKPT["initial"], ids=lambda r: r[0])
def test_tdes_dukpt_row(row: list[str]) -> None:
    ksn_hex, txn_key, enc_pb, req_mac, resp_mac, req_cmac, resp_cmac, enc_data = row
    ipek = p.tdes_dukpt_ipek(H(DUKPT["bdk"]), H(ksn_hex))  # IPEK from any KSN of the device
    ksn = H(ksn_hex)
    assert ipek == H(DUKPT["ipek"])
    assert p.tdes_dukpt_key(ipek, ksn, "transaction") == H(txn_key)
    clear = H(DUKPT["clear_pinblock"])
    pin_key = p.tdes_dukpt_key(ipek, ksn, "pin")
    assert p.tdes_encrypt_ecb(pin_key, clear) == H(enc_pb)
    assert p.decode_pin_block_iso0(p.tdes_decrypt_ecb(pin_key, H(enc_pb)), DUKPT["pan"]) == "1234"
    req_key = p.tdes_dukpt_key(ipek, ksn, "mac_request")
    resp_key = p.tdes_dukpt_key(ipek, ksn, "mac_response")
    assert p.retail_mac(req_key, DUKPT_MAC_DATA, 1)[:4] == H(req_mac)
    assert p.retail_mac(resp_key, DUKPT_MAC_DATA, 1)[:4] == H(resp_mac)
    assert p.tdes_cmac(req_key, DUKPT_MAC_DATA) == H(req_cmac)
    assert p.tdes_cmac(resp_key, DUKPT_MAC_DATA) == H(resp_cmac)
    data_key = p.tdes_dukpt_key(ipek, ksn, "data_request")
    padded = DUKPT_MAC_DATA + bytes(24 - len(DUKPT_MAC_DATA))
    assert p.tdes_cbc_encrypt(data_key, padded) == H(enc_data)


AES = KAT["aes_dukpt_x9_24_3_2017"]["aes128_bdk"]


def test_aes_dukpt_initial_key() -> None:
    ik = p.aes_dukpt_initial_key(H(AES["bdk"]), H(AES["initial_key_id"]))
    assert ik == H(AES["initial_key"])


@pytest.mark.parametrize(
    "ksn,key", list(zip(AES["ksn_initial"], AES["txn_keys_initial"], strict=True))
)
def test_aes_dukpt_intermediate_key(ksn: str, key: str) -> None:
    assert p.aes_dukpt_key(H(AES["initial_key"]), H(ksn), "transaction") == H(key)


def test_aes_dukpt_derivation_data_layout() -> None:
    # The documented derivation data, built by hand, gives the same initial key.
    doc = KAT["aes_dukpt_x9_24_3_2017"]["derivation_data"]
    assert doc.startswith("16 bytes: 01 | key-block-counter")
    data = H("0101800100020080") + H(AES["initial_key_id"])
    from cryptography.hazmat.primitives.ciphers import Cipher
    from cryptography.hazmat.primitives.ciphers.algorithms import AES as AESAlg
    from cryptography.hazmat.primitives.ciphers.modes import ECB

    enc = Cipher(AESAlg(H(AES["bdk"])), ECB()).encryptor()
    assert enc.update(data) + enc.finalize() == H(AES["initial_key"])
