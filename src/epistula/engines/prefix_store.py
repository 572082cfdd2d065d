"""The prompt cache: prefixes written at ``cache_control`` breakpoints, per namespace.

An *entry* is a breakpoint prefix (namespace, token prefix) with a TTL that is
refreshed on every hit. Entries point at a *snapshot*: the engine's saved state
for some token prefix at least as long as the entry (the llama.cpp engine stores
the KV cells of one sequence; the fake engine stores nothing but a size). One
snapshot may serve several entries: a request with breakpoints at 1,200 and
3,000 tokens saves one snapshot of 3,000 tokens, and a later read of the
1,200-token entry restores it and drops the cells past 1,200. Nested breakpoint
prefixes (Claude Code sends three per request) therefore cost memory once.

Memory is bounded by ``budget_bytes`` over the snapshots that entries reference:
expired entries are dropped first, then the least recently used ones, until a
new snapshot fits; a snapshot larger than the whole budget is not stored.
A plan keeps its hit's snapshot alive until the engine has restored it, so the
budget can be exceeded briefly by snapshots in flight.

Namespaces (one per workspace) never see each other's entries: the namespace is
part of every key and of every lookup. All methods are thread-safe (plans are
made on the event loop, snapshots committed from the engine's worker thread).
"""

from __future__ import annotations

import hashlib
import threading
import time
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from epistula.engines.base import CachePoint, CacheTTL, PromptCacheUsage
from epistula.engines.cache_usage import split_usage

TTL_SECONDS: dict[CacheTTL, float] = {"5m": 300.0, "1h": 3600.0}

_Key = tuple[str, int, bytes]


def common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Length of the shared prefix of two strings or token sequences (C-speed slices;
    a list and a tuple of the same tokens compare equal)."""
    if type(a) is not type(b):
        a, b = tuple(a), tuple(b)
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # invariant: a[:lo] == b[:lo] and a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def _digest(tokens: bytes) -> bytes:
    return hashlib.blake2b(tokens, digest_size=16).digest()


class _Prefixes:
    """Digests of a prompt's prefixes, computed on demand (each is O(length))."""

    def __init__(self, tokens: Sequence[int]) -> None:
        self._raw = array("i", tokens).tobytes()
        self._size = array("i").itemsize

    def digest(self, length: int) -> bytes:
        return _digest(self._raw[: length * self._size])


@dataclass(eq=False)
class Snapshot:
    """Saved engine state for the prompt prefix ``tokens``."""

    tokens: tuple[int, ...]
    data: object
    """Engine-specific: a ctypes buffer for llama.cpp, ``None`` for the fake engine."""
    nbytes: int
    refs: int = 0
    """Entries that point here; the snapshot's bytes count toward the budget while > 0."""


@dataclass(eq=False)
class Entry:
    key: _Key
    ttl: CacheTTL
    expires_at: float
    snapshot: Snapshot

    @property
    def namespace(self) -> str:
        return self.key[0]

    @property
    def length(self) -> int:
        return self.key[1]


@dataclass(frozen=True, slots=True)
class CachePlan:
    """What one request reads and writes, decided at admission."""

    usage: PromptCacheUsage
    hit: Snapshot | None = None
    """The snapshot to restore (its first ``usage.read`` tokens are the prompt's)."""
    writes: tuple[CachePoint, ...] = ()
    """Breakpoints to store once the prompt is prefilled up to ``write_at``."""

    @property
    def write_at(self) -> int:
        return max((p.offset for p in self.writes), default=0)


@dataclass(frozen=True, slots=True)
class PromptCacheStats:
    entries: int
    bytes: int
    budget_bytes: int
    hits: int
    misses: int
    writes: int
    evictions: int


class PromptCache:
    """Breakpoint cache entries of one engine, under one byte budget.

    ``min_tokens``: shorter breakpoint prefixes are not cached (the API's
    minimum cacheable prompt length; their tokens count as uncached input).
    ``bytes_per_token`` estimates a snapshot's size before it exists, so that a
    prefix too large for the whole budget is reported as uncached, not written.
    ``clock`` (seconds, monotonic) is replaceable so tests can expire TTLs.
    """

    def __init__(
        self,
        *,
        budget_bytes: int,
        min_tokens: int,
        bytes_per_token: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget_bytes = budget_bytes
        self.min_tokens = max(1, min_tokens)
        self.bytes_per_token = bytes_per_token
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[_Key, Entry] = OrderedDict()
        """Least recently used first."""
        self._lengths: dict[str, Counter[int]] = {}
        """Per namespace: entry lengths (the candidate prefix lengths of a lookup)."""
        self._bytes = 0
        self._hits = self._misses = self._writes = self._evictions = 0

    # -- planning (event loop) -------------------------------------------

    def cacheable(self, points: Sequence[CachePoint]) -> list[CachePoint]:
        """The breakpoints that can be cached at all: long enough and within budget."""
        return [
            p for p in points if p.offset >= self.min_tokens and p.offset * self.bytes_per_token <= self.budget_bytes
        ]

    def plan(self, namespace: str, prompt: Sequence[int], points: Sequence[CachePoint]) -> CachePlan:
        """Find the longest cached prefix any breakpoint may read (within its
        lookback), refresh it, and plan writes for the breakpoints beyond it."""
        eligible = self.cacheable(points)
        if not eligible or self.budget_bytes <= 0:
            return CachePlan(usage=split_usage(0, []))
        prefixes = _Prefixes(prompt)
        now = self.clock()
        with self._lock:
            self._purge_expired(now)
            hit = self._longest_hit(namespace, prefixes, eligible)
            read = hit.length if hit is not None else 0
            ttls = {p.offset: p.ttl for p in eligible}
            for p in eligible:
                if p.offset <= read:  # breakpoints inside the hit refresh their own entries
                    entry = self._entries.get((namespace, p.offset, prefixes.digest(p.offset)))
                    if entry is not None:
                        self._touch(entry, now, ttls[p.offset])
            if hit is not None:
                self._touch(hit, now, ttls.get(hit.length))
                self._hits += 1
            else:
                self._misses += 1
        writes = tuple(p for p in eligible if p.offset > read)
        return CachePlan(
            usage=split_usage(read, eligible),
            hit=hit.snapshot if hit is not None else None,
            writes=writes,
        )

    def _longest_hit(self, namespace: str, prefixes: _Prefixes, points: Sequence[CachePoint]) -> Entry | None:
        lengths = self._lengths.get(namespace)
        if not lengths:
            return None
        candidates = sorted((n for n in lengths if any(p.lookback <= n <= p.offset for p in points)), reverse=True)
        for n in candidates:
            entry = self._entries.get((namespace, n, prefixes.digest(n)))
            if entry is not None:
                return entry
        return None

    def _touch(self, entry: Entry, now: float, ttl: CacheTTL | None) -> None:
        if ttl == "1h":
            entry.ttl = "1h"  # a 1-hour breakpoint on a 5-minute entry extends it
        entry.expires_at = now + TTL_SECONDS[entry.ttl]
        self._entries.move_to_end(entry.key)

    # -- writing (engine worker) -----------------------------------------

    def commit(self, namespace: str, snapshot: Snapshot, writes: Sequence[CachePoint]) -> bool:
        """Store entries for ``writes`` backed by ``snapshot`` (which must cover them).

        Returns False when nothing new was stored (the snapshot exceeds the whole
        budget, or every entry already existed and was only refreshed)."""
        prefixes = _Prefixes(snapshot.tokens)
        now = self.clock()
        with self._lock:
            self._purge_expired(now)
            if snapshot.nbytes > self.budget_bytes:
                return False
            for p in writes:
                if p.offset > len(snapshot.tokens):
                    continue
                key = (namespace, p.offset, prefixes.digest(p.offset))
                existing = self._entries.get(key)
                if existing is not None:
                    self._touch(existing, now, p.ttl)
                    continue
                self._entries[key] = Entry(key, p.ttl, now + TTL_SECONDS[p.ttl], snapshot)
                self._lengths.setdefault(namespace, Counter())[p.offset] += 1
                snapshot.refs += 1
                self._writes += 1
            if snapshot.refs == 0:
                return False
            self._bytes += snapshot.nbytes
            while self._bytes > self.budget_bytes:
                victim = next((k for k, e in self._entries.items() if e.snapshot is not snapshot), None)
                if victim is None:
                    break
                self._drop(victim)
                self._evictions += 1
            return True

    # -- housekeeping -----------------------------------------------------

    def _purge_expired(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if e.expires_at <= now]:
            self._drop(key)

    def _drop(self, key: _Key) -> None:
        entry = self._entries.pop(key)
        lengths = self._lengths[entry.namespace]
        lengths[entry.length] -= 1
        if lengths[entry.length] <= 0:
            del lengths[entry.length]
        if not lengths:
            del self._lengths[entry.namespace]
        entry.snapshot.refs -= 1
        if entry.snapshot.refs == 0:
            self._bytes -= entry.snapshot.nbytes

    def clear(self) -> None:
        with self._lock:
            for key in list(self._entries):
                self._drop(key)

    def stats(self) -> PromptCacheStats:
        with self._lock:
            self._purge_expired(self.clock())
            return PromptCacheStats(
                entries=len(self._entries),
                bytes=self._bytes,
                budget_bytes=self.budget_bytes,
                hits=self._hits,
                misses=self._misses,
                writes=self._writes,
                evictions=self._evictions,
            )
