"""Prompt caching through the server with the real model (SmolLM2-135M, one slot): usage
from the SDK, workspaces that never share a cache, and greedy output that depends only on
how a prompt was computed.

Greedy output after a cache read is compared with another cache read of the same prefix
(in another workspace, through the same steps), not with a cold prefill: a restored prefix
leaves only the tail to compute, in a batch of another shape, and llama.cpp may round that
differently (docs/performance.md), so "cached equals uncached" is not a property to test."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from conftest import MODEL, MODEL_STARTUP, V2023, LiveServer, add_key, model_settings, server_fixture

from .conftest import cached_system, prompt_tokens, total

pytestmark = pytest.mark.model

RULES = " ".join(f"Rule {i}: be brief, kind and precise about the ocean and its fish number {i}." for i in range(60))
SYSTEM = cached_system(RULES)
QUESTION = [{"role": "user", "content": "Name one fish."}]


one_slot_server = server_fixture(
    "one_slot_server",
    "cache-model",
    model_settings,
    startup_timeout=MODEL_STARTUP,
    n_seq_max=1,
    n_ctx=4096,
    n_threads=1,
)


def write_then_read(client: anthropic.Anthropic) -> tuple[anthropic.types.Message, anthropic.types.Message]:
    """A cold request that writes the system prefix, one that wipes the only slot, then a
    request whose prefix can only come back from the KV snapshot store."""
    kwargs: dict[str, Any] = {"model": MODEL, "max_tokens": 12, "extra_body": {"temperature": 0.0}, "system": SYSTEM}
    first = client.messages.create(**kwargs, messages=[{"role": "user", "content": "What is the sea?"}])
    client.messages.create(model=MODEL, max_tokens=1, messages=[{"role": "user", "content": "Hi"}])
    hit = client.messages.create(**kwargs, messages=QUESTION)
    return first, hit


def text(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def test_cached_prefix_is_read_and_reads_agree(one_slot_server: LiveServer) -> None:
    client = one_slot_server.client(timeout=600.0, version=V2023)
    first, hit = write_then_read(client)
    written = first.usage.cache_creation_input_tokens
    assert written >= 1024 and first.usage.cache_read_input_tokens == 0
    assert hit.usage.cache_read_input_tokens == written
    assert hit.usage.cache_creation_input_tokens == 0
    assert total(hit.usage) == prompt_tokens(client, system=SYSTEM, messages=QUESTION)
    engine_stats = one_slot_server.engine.prompt_cache.stats()
    assert engine_stats.hits >= 1 and engine_stats.entries == 1

    other = add_key(one_slot_server, "wrkspc_cache_model_other").with_options(  # another workspace
        timeout=600.0, default_headers={"anthropic-version": V2023}
    )
    other_first, other_hit = write_then_read(other)
    # Nothing of the first workspace's cache is read: the other one writes its own.
    assert other_first.usage.cache_read_input_tokens == 0 and other_first.usage.cache_creation_input_tokens == written
    assert other_hit.usage.cache_read_input_tokens == written
    assert one_slot_server.engine.prompt_cache.stats().entries == 2
    # Like with like: cold with cold, snapshot read with snapshot read.
    assert text(other_first) == text(first)
    assert text(other_hit) == text(hit) and text(hit).strip()
