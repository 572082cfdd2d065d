"""The prompt cache store and the usage arithmetic, without a server."""

from __future__ import annotations

import pytest

from epistula.engines.base import CachePoint, PromptCacheUsage
from epistula.engines.cache_usage import input_tokens, split_usage
from epistula.engines.prefix_store import PromptCache, Snapshot

from .conftest import ManualClock

PROMPT = tuple(range(10_000, 12_000))


def make_cache(budget: int = 10**9, *, clock: ManualClock | None = None, min_tokens: int = 100) -> PromptCache:
    return PromptCache(budget_bytes=budget, min_tokens=min_tokens, bytes_per_token=10, clock=clock or ManualClock())


def write(cache: PromptCache, namespace: str, prompt: tuple[int, ...], *points: CachePoint) -> PromptCacheUsage:
    """One request: plan, then commit what the plan says (as an engine does after prefill)."""
    plan = cache.plan(namespace, prompt, points)
    if plan.write_at:
        prefix = prompt[: plan.write_at]
        cache.commit(namespace, Snapshot(tokens=prefix, data=None, nbytes=10 * len(prefix)), plan.writes)
    return plan.usage


def test_split_usage_follows_the_mixed_ttl_rule() -> None:
    points = [CachePoint(300, "1h"), CachePoint(700, "1h"), CachePoint(1000, "5m")]
    assert split_usage(0, points) == PromptCacheUsage(read=0, creation_1h=700, creation_5m=300)
    assert split_usage(300, points) == PromptCacheUsage(read=300, creation_1h=400, creation_5m=300)
    assert split_usage(700, points) == PromptCacheUsage(read=700, creation_1h=0, creation_5m=300)
    assert split_usage(1000, points) == PromptCacheUsage(read=1000)
    assert split_usage(0, []) == PromptCacheUsage()
    usage = split_usage(300, points)
    assert input_tokens(1500, usage) == 500
    assert usage.read + usage.creation + input_tokens(1500, usage) == 1500


def test_write_then_read_and_lookback_window() -> None:
    cache = make_cache()
    assert write(cache, "ns", PROMPT, CachePoint(1000)) == PromptCacheUsage(creation_5m=1000)
    assert write(cache, "ns", PROMPT, CachePoint(1000)) == PromptCacheUsage(read=1000)
    # a later breakpoint finds the earlier entry inside its lookback window ...
    assert write(cache, "ns", PROMPT, CachePoint(1500, lookback=900)) == PromptCacheUsage(read=1000, creation_5m=500)
    # ... but not when the entry lies before the window
    longer = (*PROMPT, 1, 2, 3)
    assert write(cache, "ns", longer, CachePoint(2001, lookback=1600)) == PromptCacheUsage(creation_5m=2001)


def test_a_different_prefix_misses() -> None:
    cache = make_cache()
    write(cache, "ns", PROMPT, CachePoint(1000))
    changed = (*PROMPT[:500], 7, *PROMPT[501:])
    assert write(cache, "ns", changed, CachePoint(1000)) == PromptCacheUsage(creation_5m=1000)


def test_namespaces_never_share_entries() -> None:
    cache = make_cache()
    write(cache, "workspace-a", PROMPT, CachePoint(1000))
    assert write(cache, "workspace-b", PROMPT, CachePoint(1000)) == PromptCacheUsage(creation_5m=1000)
    assert write(cache, "workspace-a", PROMPT, CachePoint(1000)) == PromptCacheUsage(read=1000)


def test_ttl_expires_and_is_refreshed_on_hit() -> None:
    clock = ManualClock()
    cache = make_cache(clock=clock)
    write(cache, "ns", PROMPT, CachePoint(1000))
    clock.advance(4)
    assert write(cache, "ns", PROMPT, CachePoint(1000)).read == 1000  # refreshed: 5 more minutes
    clock.advance(4)
    assert write(cache, "ns", PROMPT, CachePoint(1000)).read == 1000
    clock.advance(5.01)
    assert write(cache, "ns", PROMPT, CachePoint(1000)) == PromptCacheUsage(creation_5m=1000)
    write(cache, "ns", PROMPT[:1200], CachePoint(1100, "1h"))
    clock.advance(59)
    assert write(cache, "ns", PROMPT[:1200], CachePoint(1100, "1h")).read == 1100
    clock.advance(61)
    assert cache.stats().entries == 0


def test_below_minimum_and_over_budget_are_not_cached() -> None:
    cache = make_cache(budget=10 * 1500, min_tokens=100)
    assert write(cache, "ns", PROMPT, CachePoint(99)) == PromptCacheUsage()
    assert write(cache, "ns", PROMPT, CachePoint(1501)) == PromptCacheUsage()  # 15,010 bytes > budget
    assert write(cache, "ns", PROMPT, CachePoint(99), CachePoint(1500)) == PromptCacheUsage(creation_5m=1500)
    assert cache.stats().entries == 1


def test_lru_eviction_under_the_byte_budget() -> None:
    cache = make_cache(budget=10 * 2500)  # room for two 1,000-token entries, not three
    a, b, c = (tuple(range(s, s + 1100)) for s in (0, 5000, 9000))
    write(cache, "ns", a, CachePoint(1000))
    write(cache, "ns", b, CachePoint(1000))
    assert write(cache, "ns", a, CachePoint(1000)).read == 1000  # a is now the most recent
    write(cache, "ns", c, CachePoint(1000))  # evicts b
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.evictions) == (2, 20_000, 1)
    assert write(cache, "ns", a, CachePoint(1000)).read == 1000
    assert write(cache, "ns", c, CachePoint(1000)).read == 1000
    assert write(cache, "ns", b, CachePoint(1000)).creation == 1000


def test_nested_breakpoints_share_one_snapshot() -> None:
    cache = make_cache()
    usage = write(cache, "ns", PROMPT, CachePoint(400), CachePoint(1000), CachePoint(1600))
    assert usage == PromptCacheUsage(creation_5m=1600)
    stats = cache.stats()
    assert (stats.entries, stats.bytes) == (3, 16_000)  # one snapshot of 1,600 tokens
    other = PROMPT[:1000] + tuple(range(50))
    assert write(cache, "ns", other, CachePoint(1000)).read == 1000


@pytest.mark.parametrize("ttl", ["5m", "1h"])
def test_one_hour_breakpoint_upgrades_an_existing_entry(ttl: str) -> None:
    clock = ManualClock()
    cache = make_cache(clock=clock)
    write(cache, "ns", PROMPT, CachePoint(1000, "5m"))
    write(cache, "ns", PROMPT, CachePoint(1000, ttl))  # type: ignore[arg-type]
    clock.advance(30)
    expected = 1000 if ttl == "1h" else 0
    assert cache.plan("ns", PROMPT, [CachePoint(1000)]).usage.read == expected
