"""Prefix-affinity routing: send a prompt where its prefix is already in cache.

A prompt is cut into blocks of ``block_tokens`` tokens; block ``i``'s key hashes the cache
namespace and every token up to the end of block ``i`` (a chain, so equal keys mean equal
prefixes, and namespaces never share one). The router remembers, for each key, the
upstream that last prefilled it. A new prompt goes to the upstream holding its longest
remembered prefix (a *hit*) unless that upstream is unavailable or much busier than the
least-loaded one; otherwise to the least-loaded upstream (a *miss*; among equally loaded ones, the one
that has served fewest requests, so new conversations spread out). Conversations that
grow turn by turn, and requests sharing a long system prompt, so stay on one server's KV
cache.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Routable(Protocol):
    @property
    def available(self) -> bool: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def served(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Route:
    """Upstreams to try in order, and whether the first one holds a known prefix."""

    order: tuple[int, ...]
    hit: bool


def block_keys(namespace: str, prompt: Sequence[int], block_tokens: int) -> list[bytes]:
    """The chained key of every whole block of ``prompt``."""
    keys: list[bytes] = []
    data = array("i", prompt).tobytes()
    size = block_tokens * 4
    digest = hashlib.blake2b(namespace.encode(), digest_size=16).digest()
    for end in range(size, len(data) + 1, size):
        digest = hashlib.blake2b(digest + data[end - size : end], digest_size=16).digest()
        keys.append(digest)
    return keys


class PrefixRouter:
    """Remembers which upstream holds which prefix blocks (bounded, least recent out)."""

    def __init__(self, *, block_tokens: int = 256, max_keys: int = 1 << 16, load_slack: int = 8) -> None:
        if block_tokens < 1:
            raise ValueError("block_tokens must be >= 1")
        self.block_tokens = block_tokens
        self.load_slack = load_slack
        """How many more requests in flight than the least-loaded upstream the holder of a
        prefix may have and still get it (beyond that, recomputing elsewhere is cheaper
        than queueing)."""
        self._max_keys = max_keys
        self._owner: OrderedDict[bytes, int] = OrderedDict()
        self.lookups = 0
        self.hits = 0

    def route(self, namespace: str, prompt: Sequence[int], upstreams: Sequence[Routable]) -> Route:
        """Order the upstreams for this prompt: the prefix holder first (if any), then by load."""
        self.lookups += 1
        by_load = sorted(
            range(len(upstreams)),
            key=lambda i: (not upstreams[i].available, upstreams[i].in_flight, upstreams[i].served, i),
        )
        keys = block_keys(namespace, prompt, self.block_tokens)
        holder = None
        for key in reversed(keys):
            owner = self._owner.get(key)
            if owner is not None and owner < len(upstreams):
                holder = owner
                break
        least = upstreams[by_load[0]]
        if (
            holder is not None
            and upstreams[holder].available
            and upstreams[holder].in_flight <= least.in_flight + self.load_slack
        ):
            self.hits += 1
            return Route(order=(holder, *(i for i in by_load if i != holder)), hit=True)
        return Route(order=tuple(by_load), hit=False)

    def record(self, namespace: str, prompt: Sequence[int], upstream: int) -> None:
        """``upstream`` now holds every block of ``prompt`` in its cache."""
        for key in block_keys(namespace, prompt, self.block_tokens):
            self._owner[key] = upstream
            self._owner.move_to_end(key)
        while len(self._owner) > self._max_keys:
            self._owner.popitem(last=False)

    def forget(self, upstream: int) -> None:
        """The upstream lost its cache (it went down): its prefixes are nobody's."""
        for key in [k for k, v in self._owner.items() if v == upstream]:
            del self._owner[key]

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.lookups if self.lookups else 0.0
