"""The usage row, and the token counts that prices and reports work on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ServiceTier = Literal["standard", "batch"]
LONG_CONTEXT_THRESHOLD = 200_000
"""Prompts of at least this many tokens fall in the ``200k-1M`` context-window class."""


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Billed tokens by type: the columns of a usage report result."""

    uncached_input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_5m_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0

    def __add__(self, other: TokenCounts) -> TokenCounts:
        return TokenCounts(
            self.uncached_input_tokens + other.uncached_input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_5m_input_tokens + other.cache_creation_5m_input_tokens,
            self.cache_creation_1h_input_tokens + other.cache_creation_1h_input_tokens,
        )

    @property
    def prompt_tokens(self) -> int:
        """The whole prompt: uncached input plus cache reads and writes."""
        return (
            self.uncached_input_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_5m_input_tokens
            + self.cache_creation_1h_input_tokens
        )


def context_window(tokens: TokenCounts) -> str:
    return "200k-1M" if tokens.prompt_tokens >= LONG_CONTEXT_THRESHOLD else "0-200k"


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One admitted request (live or batch item) and what it was billed."""

    request_id: str
    created_at: float
    """POSIX seconds when the request finished: the time reports put it in."""
    workspace_id: str
    api_key_id: str | None
    """None for batch items (batches are stored per workspace, not per key)."""
    model: str
    """The served model's id (aliases resolved)."""
    service_tier: ServiceTier
    batch: bool
    outcome: str
    """``succeeded``, ``errored`` or ``canceled`` (see :data:`epistula.generation.gate.Outcome`)."""
    tokens: TokenCounts
    latency_ms: float
    ttft_ms: float | None
    """Time to the first content delta; None when none was produced."""
    context_window: str = "0-200k"
