"""Idle prefix caches parked in host memory, out of a unified KV cache.

With a unified cache every decode attends over the cells up to the highest one in use
(llama.cpp's ``n_kv``), masked or not. Idle sequences kept as prefix caches therefore
slow every later step: measured on SmolLM2-135M, one thread, a lone sequence decodes at
19.8 ms/token beside 15 idle sequences of 800 tokens against 12.0 ms/token alone, and
prefills at half the speed. llama-server has the same problem and, by default, saves the
idle slots to a host-memory prompt cache and clears them when a new task starts.

Here the scheduler *settles* the cache whenever it runs out of work: every idle cache but
the most recently used one is parked (a snapshot of its cells into a :class:`ParkingLot`,
then its cells are freed) and the one kept is moved to the front of the cache (snapshot,
clear, restore), so a lone stream attends over its own cells and that one cache only.
A later prompt that starts with a parked prefix gets it restored into its slot (a copy,
~0.1 ms per MB) instead of prefilled. A single conversation's slot is never parked: with
one cached sequence there is nothing to settle.

The lot holds at most ``budget_bytes`` of snapshots, least recently used ones go first.
Only the scheduler's worker thread uses it.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from epistula.engines.prefix_store import common_prefix

PARKED_BYTES = 256 << 20
"""Default host memory for parked caches (SmolLM2-135M: ~11,000 tokens)."""


@dataclass(eq=False)
class Parked:
    """The KV cells of ``tokens`` of one namespace, saved from a sequence."""

    namespace: str
    tokens: tuple[int, ...]
    data: ctypes.Array[ctypes.c_uint8]
    last_used: int


class ParkingLot:
    """Parked prefix caches under one byte budget (least recently used evicted first)."""

    def __init__(self, budget_bytes: int = PARKED_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._entries: list[Parked] = []

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return sum(len(e.data) for e in self._entries)

    def park(self, entry: Parked) -> bool:
        """Keep ``entry`` (evicting older ones to fit); False when it exceeds the budget."""
        size = len(entry.data)
        if size > self.budget_bytes:
            return False
        self._entries = [e for e in self._entries if not _covers(entry, e)]
        self._entries.sort(key=lambda e: e.last_used)
        while self._entries and self.nbytes + size > self.budget_bytes:
            self._entries.pop(0)
        self._entries.append(entry)
        return True

    def best(self, namespace: str, prompt: tuple[int, ...]) -> tuple[Parked | None, int]:
        """The parked cache sharing the longest prefix with ``prompt``, and that length."""
        best: Parked | None = None
        best_len = 0
        for entry in self._entries:
            if entry.namespace == namespace:
                n = common_prefix(entry.tokens, prompt)
                if n > best_len:
                    best, best_len = entry, n
        return best, best_len

    def take(self, entry: Parked) -> None:
        """Forget ``entry`` (it went back into a sequence)."""
        self._entries.remove(entry)


def _covers(new: Parked, old: Parked) -> bool:
    """``old`` is a prefix of ``new`` in the same namespace: ``new`` serves all it served."""
    return (
        old.namespace == new.namespace
        and len(old.tokens) <= len(new.tokens)
        and new.tokens[: len(old.tokens)] == old.tokens
    )
