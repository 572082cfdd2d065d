"""Prompt caching through the server with the real model (SmolLM2-135M, one slot):
usage from the SDK, and greedy output identical with and without the cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import API_KEY, MODEL, V2023, LiveServer, start_server
from epistula.config import Settings

from .conftest import add_key, cached_system, prompt_tokens, total

pytestmark = pytest.mark.model

RULES = " ".join(f"Rule {i}: be brief, kind and precise about the ocean and its fish number {i}." for i in range(60))


@pytest.fixture(scope="module")
def one_slot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(engine="llamacpp", api_key=API_KEY, data_dir=tmp_path_factory.mktemp("cache-model"),
                        n_seq_max=1, n_ctx=4096, n_threads=1)
    live = start_server(settings, startup_timeout=300.0)
    yield live
    live.stop()


def test_cached_prefix_is_read_and_output_is_unchanged(one_slot_server: LiveServer) -> None:
    client = one_slot_server.client(timeout=600.0, version=V2023)
    system = cached_system(RULES)
    question = [{"role": "user", "content": "Name one fish."}]
    kwargs = {"model": MODEL, "max_tokens": 12, "extra_body": {"temperature": 0.0}, "system": system}

    first = client.messages.create(**kwargs, messages=[{"role": "user", "content": "What is the sea?"}])
    written = first.usage.cache_creation_input_tokens
    assert written >= 1024 and first.usage.cache_read_input_tokens == 0

    client.messages.create(model=MODEL, max_tokens=1, messages=[{"role": "user", "content": "Hi"}])  # wipes the slot
    hit = client.messages.create(**kwargs, messages=question)
    assert hit.usage.cache_read_input_tokens == written
    assert hit.usage.cache_creation_input_tokens == 0
    assert total(hit.usage) == prompt_tokens(client, system=system, messages=question)
    engine_stats = one_slot_server.engine.prompt_cache.stats()
    assert engine_stats.hits >= 1 and engine_stats.entries == 1

    other = add_key(one_slot_server, "wrkspc_cache_model_other").with_options(  # another workspace
        timeout=600.0, default_headers={"anthropic-version": V2023}
    )
    fresh = other.messages.create(**kwargs, messages=question)
    assert fresh.usage.cache_read_input_tokens == 0 and fresh.usage.cache_creation_input_tokens == written
    assert hit.content[0].text == fresh.content[0].text  # type: ignore[union-attr]
    assert hit.content[0].text.strip()  # type: ignore[union-attr]
