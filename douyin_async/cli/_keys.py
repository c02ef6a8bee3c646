"""A set of journal keys that costs about 16 bytes a key, for inputs of millions of lines.

A Python set of a million id strings takes more than 100 MiB. Here an id that fits (digits, no
leading zero, below 2**63) is kept as its number, any other key (a short link, an input without
an id) as a 63-bit hash of its text with the top bit set, so the two never meet. The numbers live
in an open-addressing table, an ``array`` of 64-bit integers at most half full (0 marks a free
slot), which doubles as it fills; a key is removed by shifting back the keys that probed past
it. Two distinct non-id keys share a hash with a chance of about
one in 10**7 for a million keys; the later one is then taken for a repeat.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator

_HASHED = 1 << 63
_SPREAD = 0x9E3779B97F4A7C15
"""Fibonacci hashing: consecutive ids land far apart in the table."""
_WORD = (1 << 64) - 1


def code_of(key: str) -> int:
    """The number a key is kept as (never 0): the same for the same key in every ``KeySet``."""
    if key.isdigit() and key.isascii() and key[0] != "0" and len(key) <= 19:
        number = int(key)
        if number < _HASHED:
            return number
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") | _HASHED


class KeySet:
    """Membership of ids and other keys, compactly: ``add``, ``discard``, ``in``, ``len``, ``update``,
    ``clear``; the ``*_code`` methods take keys already turned into numbers by ``code_of``."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self.clear()
        self.update(keys)

    def clear(self) -> None:
        self._bits = 10
        self._table = array("Q", [0]) * (1 << self._bits)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __eq__(self, other: object) -> bool:
        """Equal to a set of the same keys (the keys themselves are not kept, so not listed)."""
        if isinstance(other, KeySet):
            return len(self) == len(other) and sorted(self._table) == sorted(other._table)
        if isinstance(other, (set, frozenset)):
            return len(self) == len(other) and all(key in self for key in other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return self.has_code(code_of(key))

    def has_code(self, code: int) -> bool:
        return self._table[self._slot(code)] != 0

    def add(self, key: str) -> None:
        self.add_code(code_of(key))

    def add_code(self, code: int) -> None:
        slot = self._slot(code)
        if self._table[slot]:
            return
        self._table[slot] = code
        self._size += 1
        if self._size << 1 > len(self._table):
            self._grow()

    def discard(self, key: str) -> None:
        self.discard_code(code_of(key))

    def discard_code(self, code: int) -> None:
        """Remove ``code``; each key after it in its run of slots moves back into the hole unless
        that would put it before its own home slot (linear probing's deletion: no tombstones)."""
        table, mask = self._table, (1 << self._bits) - 1
        hole = self._slot(code)
        if table[hole] == 0:
            return
        self._size -= 1
        slot = hole
        while True:
            slot = (slot + 1) & mask
            found = table[slot]
            if found == 0:
                break
            if (slot - self._home(found)) & mask >= (slot - hole) & mask:
                table[hole] = found
                hole = slot
        table[hole] = 0

    def codes(self) -> Iterator[int]:
        """The keys as their numbers, in no order."""
        return (code for code in self._table if code)

    def update(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.add(key)

    def _slot(self, code: int) -> int:
        """Where ``code`` is, or the free slot where it belongs."""
        table, bits = self._table, self._bits
        mask = (1 << bits) - 1
        slot = ((code * _SPREAD) & _WORD) >> (64 - bits)  # _home, inline: this is the hot path
        while True:
            found = table[slot]
            if found == code or found == 0:
                return slot
            slot = (slot + 1) & mask

    def _home(self, code: int) -> int:
        return ((code * _SPREAD) & _WORD) >> (64 - self._bits)

    def _grow(self) -> None:
        old = self._table
        self._bits += 1
        self._table = array("Q", [0]) * (1 << self._bits)
        for code in old:
            if code:
                self._table[self._slot(code)] = code
