"""Usage arithmetic for prompt caching (Anthropic's rule for mixed TTLs).

With ``A`` the tokens read from the longest cache hit, ``B`` the offset of the
last 1-hour breakpoint after ``A`` (``A`` if none) and ``C`` the offset of the
last breakpoint (at least ``A``): ``A`` tokens are cache reads, ``B - A`` are
1-hour cache writes, ``C - B`` are 5-minute cache writes, and the rest of the
prompt is uncached input. The four numbers always sum to the prompt's length.
"""

from __future__ import annotations

from collections.abc import Sequence

from epistula.engines.base import CachePoint, PromptCacheUsage


def split_usage(read: int, points: Sequence[CachePoint]) -> PromptCacheUsage:
    """``points`` are the breakpoints that can be cached (long enough, within budget)."""
    last = max((p.offset for p in points), default=0)
    last_1h = max((p.offset for p in points if p.ttl == "1h"), default=0)
    b = max(read, last_1h)
    c = max(b, last)
    return PromptCacheUsage(read=read, creation_1h=b - read, creation_5m=c - b)


def input_tokens(prompt_tokens: int, usage: PromptCacheUsage) -> int:
    """The uncached remainder: what ``usage.input_tokens`` reports."""
    return prompt_tokens - usage.read - usage.creation
