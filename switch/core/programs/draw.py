"""Verifiable prize draws: anyone can recompute the winners from the published inputs.

Procedure (docs/programs.md): the operator picks a secret 32-byte seed and publishes
`commitment = SHA-256(seed)` *before* the draw, together with the entry list (card numbers
masked, with their entry counts) and its digest. After the draw the seed is published. Winner
`i` is found from `SHA-256(seed || entries_digest || i)` taken as an integer modulo the total
number of entries still in the pot (rejection sampling removes modulo bias); a card wins once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entrant:
    pan: str
    entries: int


def commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def entries_digest(entrants: Sequence[Entrant]) -> str:
    """SHA-256 over the entry list in order, one `pan:entries` line each."""
    h = hashlib.sha256()
    for e in entrants:
        h.update(f"{e.pan}:{e.entries}\n".encode())
    return h.hexdigest()


def _uniform(seed: bytes, digest: str, counter: int, bound: int) -> tuple[int, int]:
    """A uniform integer in [0, bound) and the next counter (rejection sampling on 256 bits:
    a bound over 2^256 would reject every block, for ever)."""
    if not 0 < bound <= 1 << 256:
        raise ValueError("a draw picks among 1 to 2^256 entries")
    limit = (1 << 256) - (1 << 256) % bound
    while True:
        block = hashlib.sha256(seed + bytes.fromhex(digest) + counter.to_bytes(8, "big")).digest()
        counter += 1
        value = int.from_bytes(block, "big")
        if value < limit:
            return value % bound, counter


def draw(seed: bytes, entrants: Sequence[Entrant], winners: int) -> list[Entrant]:
    """The winners, in order. Entrants are taken in the order given (sort them first)."""
    if winners < 0:
        raise ValueError("the number of winners cannot be negative")
    if any(e.entries < 0 for e in entrants):
        raise ValueError("an entrant cannot have negative entries")
    digest = entries_digest(entrants)
    pot = [e for e in entrants if e.entries > 0]
    out: list[Entrant] = []
    counter = 0
    while pot and len(out) < winners:
        total = sum(e.entries for e in pot)
        pick, counter = _uniform(seed, digest, counter, total)
        for i, e in enumerate(pot):
            if pick < e.entries:
                out.append(e)
                del pot[i]
                break
            pick -= e.entries
    return out
