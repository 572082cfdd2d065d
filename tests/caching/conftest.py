"""Fake-engine servers for the prompt-caching suite, a manual clock for TTLs, and
helpers that build cacheable requests.

The fake engine accounts caching through the same ``PromptCache`` as the llama.cpp
engine (1 token = 1 UTF-8 byte, minimum cacheable prefix 1,024 tokens by default),
so these tests check the usage arithmetic exactly and fast.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from conftest import MODEL, LiveServer, fake_settings, serving


class ManualClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60


@pytest.fixture(scope="session")
def cache_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serving(fake_settings(tmp_path_factory.mktemp("caching")))


@pytest.fixture()
def clock(cache_server: LiveServer) -> Iterator[ManualClock]:
    """The server's prompt cache on a manual clock, emptied before and after the test."""
    cache = cache_server.engine.prompt_cache
    saved = cache.clock
    manual = ManualClock()
    cache.clear()
    cache.clock = manual
    yield manual
    cache.clock = saved
    cache.clear()


@pytest.fixture()
def client(cache_server: LiveServer, clock: ManualClock) -> anthropic.Anthropic:
    return cache_server.client()


def document(n_chars: int = 3000, seed: str | None = None) -> str:
    """Unique ASCII text of exactly ``n_chars`` characters (= fake-engine tokens)."""
    seed = seed or secrets.token_hex(4)
    text = f"[{seed}] " + "The quick brown fox jumps over the lazy dog. " * (n_chars // 40 + 1)
    return text[:n_chars]


def cached_system(text: str, ttl: str | None = None) -> list[dict[str, Any]]:
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    return [{"type": "text", "text": text, "cache_control": control}]


def ask(client: anthropic.Anthropic, system: Any, question: str = "#say:ok", **extra: Any) -> anthropic.types.Message:
    return client.messages.create(
        model=MODEL, max_tokens=16, system=system, messages=[{"role": "user", "content": question}], **extra
    )


def prompt_tokens(client: anthropic.Anthropic, **params: Any) -> int:
    """The prompt's size, measured independently by ``count_tokens``."""
    return client.messages.count_tokens(model=MODEL, **params).input_tokens


def total(usage: Any) -> int:
    return int(usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens)
