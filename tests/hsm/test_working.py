"""The MAC keys the engine keeps ready (hsm_sim/working.py, docs/hsm.md §2): the same MACs and
refusals as a fresh unwrap and a fresh `primitives.retail_mac` every call."""

from __future__ import annotations

import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hsm_sim import primitives as p
from hsm_sim.engine import HsmEngine
from hsm_sim.errors import InputError, KeyLengthError, KeyParityError, KeyTypeError
from hsm_sim.lmk import KeyType
from hsm_sim.working import RetailMacKey, WorkingKeys
from tests.hsm.conftest import FIXED_LMK

KAT = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "crypto_kat.json")
                 .read_text())
H = bytes.fromhex


def keys(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [p.des_odd_parity(rng.randbytes(16)) for _ in range(count)]


@pytest.mark.parametrize("case", KAT["iso9797_alg3_retail_mac"]["cases"], ids=lambda c: c["mac"])
def test_published_retail_macs(case: dict[str, Any]) -> None:
    key = RetailMacKey(H(case["key"]))
    data = case["data_ascii"].encode("ascii")
    for _ in range(3):  # the carried chaining value must not leak into the next MAC
        assert key.mac(data, case["padding"]) == H(case["mac"])


def test_interleaved_keys_lengths_and_paddings_match_a_fresh_mac() -> None:
    clear = keys(3, 1)
    ready = [RetailMacKey(k) for k in clear]
    rng = random.Random(2)
    for _ in range(600):
        i, size, padding = rng.randrange(3), rng.randrange(0, 200), rng.choice((1, 2))
        data = rng.randbytes(size)
        assert ready[i].mac(data, padding) == p.retail_mac(clear[i], data, padding), \
            (size, padding)


def test_bad_inputs_are_refused_like_retail_mac() -> None:
    with pytest.raises(KeyLengthError):
        RetailMacKey(bytes(8))
    key = RetailMacKey(keys(1, 3)[0])
    with pytest.raises(InputError):
        key.mac(b"data", 3)
    with pytest.raises(InputError):
        key.mac("data", 1)  # type: ignore[arg-type]
    assert "kept inside" in repr(key)


def test_threads_sharing_one_key_get_each_their_own_mac() -> None:
    clear = keys(1, 4)[0]
    ready = RetailMacKey(clear)

    def wrong_macs(seed: int) -> int:
        rng = random.Random(seed)
        data = [rng.randbytes(rng.randrange(1, 120)) for _ in range(300)]
        return sum(ready.mac(d) != p.retail_mac(clear, d) for d in data)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch inside `mac`, between its steps
    try:
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(wrong_macs, range(4))) == [0, 0, 0, 0]
    finally:
        sys.setswitchinterval(interval)


def _lmk_refuses(key_lmk: str, key_type: KeyType = KeyType.TAK) -> bool:
    try:
        FIXED_LMK.unwrap(key_lmk, key_type)
    except KeyParityError:
        return True
    return False


def test_engine_keeps_a_mac_key_ready_and_refuses_as_before() -> None:
    engine = HsmEngine(FIXED_LMK)
    # A TAK unwrapped under the ZAK's variant is 16 random bytes, whose parity holds one time
    # in 65,536 (a wrong key no HSM can tell from a right one): the TAK is one the LMK itself
    # refuses as a ZAK, which the engine, with the TAK ready, must refuse as well.
    tak = next(t for t in (engine.generate_key(KeyType.TAK).key_lmk for _ in range(4))
               if _lmk_refuses(t, KeyType.ZAK))
    data = b"0200 earn request"
    clear = FIXED_LMK.unwrap(tak, KeyType.TAK)
    assert not engine.holds_working_key(tak)
    mac = engine.generate_mac(tak, data)
    assert mac == p.retail_mac(clear, data)
    assert engine.holds_working_key(tak)
    assert engine.verify_mac(tak, data, mac) and engine.verify_mac(tak, data, mac[:4])
    assert not engine.verify_mac(tak, data + b"!", mac)
    # The same key under the LMK presented as another MAC key type: refused, cached or not.
    with pytest.raises(KeyParityError):
        engine.generate_mac(tak, data, KeyType.ZAK)
    with pytest.raises(KeyTypeError):
        engine.generate_mac(tak, data, KeyType.TPK)
    # One hex digit changed: another key under the LMK. Its last block decrypts to random
    # bytes, whose parity holds about one time in 256 (a wrong key no HSM can tell from a
    # right one), so the digit is one whose key the LMK itself refuses: the engine, with the
    # real key ready, must refuse it as well.
    damaged = next(d for d in (tak[:-1] + digit for digit in "0123456789ABCDEF"
                               if digit != tak[-1].upper()) if _lmk_refuses(d))
    with pytest.raises(KeyParityError):
        engine.generate_mac(damaged, data)
    assert engine.forget_working_key(tak) and not engine.holds_working_key(tak)
    assert not engine.forget_working_key(tak)
    assert engine.generate_mac(tak, data) == mac  # unwrapped again


def test_engine_keeps_at_most_its_capacity_least_recently_used_out() -> None:
    engine = HsmEngine(FIXED_LMK, working_keys=2)
    taks = [engine.generate_key(KeyType.TAK).key_lmk for _ in range(3)]
    data = b"x" * 40
    first = engine.generate_mac(taks[0], data)
    engine.generate_mac(taks[1], data)
    engine.generate_mac(taks[0], data)  # taks[0] used again: taks[1] is now the oldest
    engine.generate_mac(taks[2], data)
    assert [engine.holds_working_key(t) for t in taks] == [True, False, True]
    assert engine.generate_mac(taks[0], data) == first
    none_kept = HsmEngine(FIXED_LMK, working_keys=0)
    assert none_kept.generate_mac(taks[0], data) == first
    assert not none_kept.holds_working_key(taks[0])
    with pytest.raises(InputError):
        WorkingKeys(-1)
