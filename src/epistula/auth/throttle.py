"""Failed-authentication throttling: a small token bucket per client address.

Every failed key check takes a token from the client's bucket; an empty bucket answers
429 (``rate_limit_error`` with ``retry-after``) before any key is looked up, so guessing
keys costs time. Buckets refill at a steady rate; the table is bounded (least recently
seen addresses are forgotten first), so many addresses cannot grow it without limit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from epistula.errors import RateLimitError

FAILURE_BURST = 20
"""Failed attempts a client may make in a row."""
FAILURE_REFILL_PER_SECOND = 0.5
"""Attempts regained per second after that."""
MAX_CLIENTS = 10_000


class AuthThrottle:
    def __init__(
        self,
        *,
        burst: int = FAILURE_BURST,
        per_second: float = FAILURE_REFILL_PER_SECOND,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """address -> (tokens, when they were counted)."""
        self._lock = threading.Lock()

    def _tokens(self, address: str, now: float) -> float:
        tokens, then = self._buckets.get(address, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - then) * self.per_second)

    def check(self, address: str) -> None:
        """Raise 429 while ``address`` has no attempt left."""
        with self._lock:
            if address not in self._buckets:
                return
            tokens = self._tokens(address, self.clock())
        if tokens < 1.0:
            raise RateLimitError(
                "Too many failed authentication attempts; retry later.",
                retry_after=(1.0 - tokens) / self.per_second,
            )

    def failed(self, address: str) -> None:
        with self._lock:
            now = self.clock()
            tokens = self._tokens(address, now)
            self._buckets[address] = (max(tokens - 1.0, 0.0), now)
            self._buckets.move_to_end(address)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
