"""Token buckets behind one small protocol, so replicas can share them (Redis) or not.

A bucket holds up to ``capacity`` units and refills continuously at
``capacity / window`` units per second (the real API's token bucket: no fixed minute
boundaries). Both operations act on several buckets *atomically*:

* ``take`` - all-or-nothing admission. A demand fits when the bucket holds at least
  ``min(amount, capacity)`` (so a demand larger than the whole bucket waits for a full
  bucket rather than for ever); when every demand fits, each bucket loses its full
  ``amount`` and may go into debt. Otherwise nothing changes and ``wait`` says how long
  until all would fit.
* ``charge`` - unconditional correction after the fact (positive: consumed more than
  reserved; negative: gives back). Levels never exceed ``capacity``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Demand:
    key: str
    """The bucket's name (unique per scope, model and dimension)."""
    capacity: int
    amount: float
    window: float = 60.0
    """Seconds to refill from empty to full."""

    @property
    def rate(self) -> float:
        return self.capacity / self.window


@dataclass(frozen=True, slots=True)
class Take:
    granted: bool
    levels: tuple[float, ...]
    """Each bucket's level after the call (unchanged when refused), in demand order."""
    wait: float
    """Seconds until every demand would fit (0 when granted)."""
    now: float
    """The backend's clock (Unix seconds) at the update: reset times are relative to it."""


class LimiterBackend(Protocol):
    async def take(self, demands: Sequence[Demand]) -> Take: ...

    async def charge(self, demands: Sequence[Demand]) -> None: ...

    async def close(self) -> None: ...


def refilled(level: float, since: float, now: float, demand: Demand) -> float:
    return min(float(demand.capacity), level + max(0.0, now - since) * demand.rate)


class InProcessLimiter:
    """Buckets in a dict: exact for one process, the default."""

    def __init__(self, *, prune_above: int = 4096) -> None:
        self._buckets: dict[str, tuple[float, float, float]] = {}
        """key -> (level, updated at, full again at)."""
        self._prune_above = prune_above
        self._lock = asyncio.Lock()

    def _level(self, demand: Demand, now: float) -> float:
        saved = self._buckets.get(demand.key)
        if saved is None:
            return float(demand.capacity)
        return refilled(saved[0], saved[1], now, demand)

    def _store(self, demand: Demand, level: float, now: float) -> None:
        level = min(float(demand.capacity), level)
        self._buckets[demand.key] = (level, now, now + (demand.capacity - level) / demand.rate)

    async def take(self, demands: Sequence[Demand]) -> Take:
        async with self._lock:
            now = time.time()
            levels = [self._level(d, now) for d in demands]
            wait = max(
                ((min(d.amount, d.capacity) - level) / d.rate for d, level in zip(demands, levels, strict=True)),
                default=0.0,
            )
            if wait > 0:
                return Take(granted=False, levels=tuple(levels), wait=wait, now=now)
            for d, level in zip(demands, levels, strict=True):
                self._store(d, level - d.amount, now)
            self._prune(now)
            return Take(granted=True, levels=tuple(self._buckets[d.key][0] for d in demands), wait=0.0, now=now)

    async def charge(self, demands: Sequence[Demand]) -> None:
        async with self._lock:
            now = time.time()
            for d in demands:
                self._store(d, self._level(d, now) - d.amount, now)

    def _prune(self, now: float) -> None:
        """Forget buckets that are full again (a missing bucket reads as full): keeps the dict bounded."""
        if len(self._buckets) > self._prune_above:
            for key, (_, _, full_at) in list(self._buckets.items()):
                if full_at <= now:
                    del self._buckets[key]

    async def close(self) -> None:
        self._buckets.clear()
