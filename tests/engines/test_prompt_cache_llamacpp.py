"""Prompt caching in the llama.cpp engine: KV snapshots really replace prefill, and
restored state decodes bit-identically to the same prefix kept in its slot (real
SmolLM2-135M model).

One slot (``n_seq_max=1``) so that an unrelated request wipes the slot's own
leftover prefix: a later hit can then only come from the snapshot store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from epistula.engines.base import (
    CachePoint,
    Finished,
    GenerationRequest,
    PromptCacheUsage,
    SamplingParams,
    Token,
    TokenEvent,
)
from epistula.engines.llamacpp.engine import LlamaCppEngine
from real_parts import smollm2_gguf

MODEL = smollm2_gguf()

pytestmark = pytest.mark.model

GREEDY = SamplingParams(max_tokens=16, temperature=0)
SYSTEM = "<|im_start|>system\n" + " ".join(
    f"Rule {i}: answer politely, briefly and only about the sea, fish number {i} included." for i in range(24)
)


def chat(question: str) -> str:
    return f"{SYSTEM}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaCppEngine]:
    eng = LlamaCppEngine(str(MODEL), n_ctx=2048, n_seq_max=1, n_threads=1, prompt_cache_min_tokens=64)
    asyncio.run(eng.start())
    yield eng
    asyncio.run(eng.close())


def prefix_len(eng: LlamaCppEngine) -> int:
    return len(eng.tokenize(SYSTEM))


def generate(
    eng: LlamaCppEngine, text: str, namespace: str, points: tuple[CachePoint, ...] = (), max_tokens: int = 16
) -> list[TokenEvent]:
    sampling = SamplingParams(max_tokens=max_tokens, temperature=0)
    prompt = tuple(eng.tokenize(text))
    request = GenerationRequest(prompt=prompt, sampling=sampling, cache_namespace=namespace, cache_points=points)

    async def collect() -> list[TokenEvent]:
        return [event async for event in eng.generate(request)]

    return asyncio.run(collect())


def usage(events: list[TokenEvent]) -> PromptCacheUsage:
    assert isinstance(events[0], PromptCacheUsage), events[0]
    return events[0]


def finished(events: list[TokenEvent]) -> Finished:
    assert isinstance(events[-1], Finished)
    return events[-1]


def ids(events: list[TokenEvent]) -> list[int]:
    return [e.id for e in events if isinstance(e, Token)]


def wipe_slot(eng: LlamaCppEngine) -> None:
    events = generate(eng, "<|im_start|>user\nSay one word.<|im_end|>\n<|im_start|>assistant\n", "wipe", max_tokens=1)
    assert finished(events).cached_tokens == 0


def test_snapshot_replaces_prefill_and_output_is_identical(engine: LlamaCppEngine) -> None:
    """A restored prefix decodes exactly like the same prefix still in the slot that computed
    it: both hold the same KV bytes and compute the same tail. (Not like a cold prefill: a
    reused prefix leaves a tail computed in a batch of another shape, which llama.cpp may round
    differently, so greedy output can differ; docs/performance.md.)"""
    n = prefix_len(engine)
    assert engine.tokenize(chat("x"))[:n] == engine.tokenize(SYSTEM)  # the point really is a token prefix
    point = (CachePoint(n),)
    wipe_slot(engine)
    first = generate(engine, chat("Name a fish."), "ns-a", point)
    assert usage(first) == PromptCacheUsage(creation_5m=n)
    assert finished(first).cached_tokens == 0
    stats = engine.prompt_cache.stats()
    assert stats.entries == 1
    assert 0.95 < stats.bytes / (n * engine.prompt_cache.bytes_per_token) < 1.1  # real KV bytes

    # A prompt that shares exactly the n cached tokens with the first one, no more.
    diverging = f"{SYSTEM}\nAlso, be kind.<|im_end|>\n<|im_start|>user\nWhat lives in the sea?<|im_end|>\n"
    diverging += "<|im_start|>assistant\n"
    tokens = engine.tokenize(diverging)
    assert tokens[:n] == engine.tokenize(SYSTEM) and tokens[n] != engine.tokenize(chat("Name a fish."))[n]
    in_slot = generate(engine, diverging, "ns-a", point)  # the slot still holds the first prompt
    assert finished(in_slot).cached_tokens == n
    wipe_slot(engine)  # the slot no longer holds the prefix: only the snapshot can
    restored = generate(engine, diverging, "ns-a", point)
    assert usage(restored) == PromptCacheUsage(read=n)
    assert finished(restored).cached_tokens == n  # n prompt tokens were restored, not prefilled
    assert ids(restored) == ids(in_slot) and len(ids(restored)) > 0


def test_other_namespaces_neither_read_nor_reuse(engine: LlamaCppEngine) -> None:
    point = (CachePoint(prefix_len(engine)),)
    generate(engine, chat("Name a fish."), "iso-a", point)
    other = generate(engine, chat("Name a fish."), "iso-b", point)
    assert usage(other).read == 0 and usage(other).creation == prefix_len(engine)
    assert finished(other).cached_tokens == 0  # not even the slot's leftover prefix


def test_slot_prefix_beyond_the_breakpoint_is_reused_but_billed_as_input(engine: LlamaCppEngine) -> None:
    n = prefix_len(engine)
    text = chat("Describe a whale.")
    generate(engine, text, "auto", (CachePoint(n),))
    again = generate(engine, text, "auto", (CachePoint(n),))
    assert usage(again) == PromptCacheUsage(read=n)
    assert finished(again).cached_tokens == finished(again).prompt_tokens - 1  # automatic reuse of the slot


def test_max_tokens_zero_prewarms(engine: LlamaCppEngine) -> None:
    n = prefix_len(engine)
    warm = generate(engine, chat("Unused."), "warm", (CachePoint(n, "1h"),), max_tokens=0)
    assert usage(warm) == PromptCacheUsage(creation_1h=n)
    assert finished(warm).reason == "max_tokens" and ids(warm) == []
    wipe_slot(engine)
    hit = generate(engine, chat("Name a crab."), "warm", (CachePoint(n, "1h"),))
    assert usage(hit) == PromptCacheUsage(read=n)
    assert finished(hit).cached_tokens == n


def test_unified_kv_cache_restores_too() -> None:
    async def scenario() -> None:
        eng = LlamaCppEngine(
            str(MODEL),
            n_ctx=2048,
            n_seq_max=2,
            kv_unified=True,
            n_threads=1,
            prompt_cache_min_tokens=64,
            parked_cache_bytes=0,  # the evicted slot's cells are not parked: the snapshot restores them
        )
        await eng.start()
        try:
            n = len(eng.tokenize(SYSTEM))
            prompt = tuple(eng.tokenize(chat("Name a fish.")))
            req = GenerationRequest(prompt, GREEDY, cache_namespace="u", cache_points=(CachePoint(n),))
            first = [e async for e in eng.generate(req)]
            for text in ("Hello there.", "Why is the sky blue?"):  # unrelated prompts take both slots
                other = GenerationRequest(tuple(eng.tokenize(text)), GREEDY, cache_namespace="x")
                [e async for e in eng.generate(other)]
            second = [e async for e in eng.generate(req)]
            assert usage(second) == PromptCacheUsage(read=n)
            assert finished(second).cached_tokens == n
            assert ids(second) == ids(first)
        finally:
            await eng.close()

    asyncio.run(scenario())
