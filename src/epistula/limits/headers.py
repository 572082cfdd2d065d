"""The ``anthropic-ratelimit-*`` headers in the real API's formats.

For each dimension the most restrictive bucket in force (workspace or key) is reported:
``-limit`` (an integer per minute), ``-remaining`` (requests exact; token counts rounded
to the nearest thousand, as the real API does) and ``-reset`` (RFC 3339, when the bucket
is full again). ``anthropic-ratelimit-tokens-*`` is whichever token bucket, input or
output, has the least left. A bucket that refused the request reports 0 remaining.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from epistula.storage.common import rfc3339

from .rules import Limit

PREFIX = "anthropic-ratelimit-"
_NAMES = {"requests": "requests", "input_tokens": "input-tokens", "output_tokens": "output-tokens"}


@dataclass(frozen=True, slots=True)
class BucketState:
    limit: Limit
    level: float
    now: float
    window: float = 60.0
    refused: bool = False

    @property
    def remaining(self) -> int:
        if self.refused:
            return 0
        left = max(0, math.floor(self.level))
        if self.limit.dimension != "requests":
            left = min(self.limit.per_minute, (left + 500) // 1000 * 1000)
        return left

    @property
    def reset(self) -> str:
        empty = self.limit.per_minute - min(self.level, self.limit.per_minute)
        full_at = self.now + empty * self.window / self.limit.per_minute
        return rfc3339(math.ceil(full_at), "seconds")


def _tightest(states: Sequence[BucketState]) -> BucketState:
    return min(states, key=lambda s: (s.remaining, s.level, s.limit.per_minute))


def ratelimit_headers(states: Sequence[BucketState]) -> dict[str, str]:
    headers: dict[str, str] = {}

    def put(name: str, state: BucketState) -> None:
        headers[f"{PREFIX}{name}-limit"] = str(state.limit.per_minute)
        headers[f"{PREFIX}{name}-remaining"] = str(state.remaining)
        headers[f"{PREFIX}{name}-reset"] = state.reset

    for dimension, name in _NAMES.items():
        of_kind = [s for s in states if s.limit.dimension == dimension]
        if of_kind:
            put(name, _tightest(of_kind))
    tokens = [s for s in states if s.limit.dimension != "requests"]
    if tokens:
        put("tokens", _tightest(tokens))
    return headers
