"""The Engine protocol's contract, the same tests for every engine.

``fake``; ``llamacpp`` (SmolLM2 in process); ``remote`` against the upstream double
replaying real llama-server traffic, in both dialects; ``remote-llama-server`` against a
real llama-server when ``EPISTULA_TEST_LLAMA_SERVER`` names one (not in CI); ``vllm`` on a
machine with vLLM and a CUDA GPU (``EPISTULA_TEST_VLLM_MODEL``, default a small
instruct model), skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import pytest

from epistula.engines.base import (
    CachePoint,
    Engine,
    Finished,
    GenerationRequest,
    PromptCacheUsage,
    PromptProgress,
    PromptTooLong,
    SamplingParams,
    Token,
    TokenEvent,
)
from epistula.engines.fake import FakeEngine
from epistula.engines.llamacpp.engine import LlamaCppEngine
from epistula.engines.remote.engine import RemoteEngine, RemoteOptions
from epistula.engines.vllm.engine import VllmEngine, VllmOptions, vllm_available
from real_parts import smollm2_gguf

from .upstream_double import doubles

T = TypeVar("T")
CHAT = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
MIN_CACHE = 16
REAL_LLAMA_SERVER = os.environ.get("EPISTULA_TEST_LLAMA_SERVER", "")
VLLM_MODEL = os.environ.get("EPISTULA_TEST_VLLM_MODEL", "HuggingFaceTB/SmolLM2-135M-Instruct")
NO_VLLM = "vLLM and a CUDA GPU are needed for the vllm engine"

Opener = Callable[[], AbstractAsyncContextManager[Engine]]

ENGINES: list[Any] = [
    "fake",
    pytest.param("llamacpp", marks=pytest.mark.model),
    "remote",
    "remote-vllm-dialect",
    pytest.param("vllm", marks=pytest.mark.skipif(not vllm_available(), reason=NO_VLLM)),
]
if REAL_LLAMA_SERVER:
    ENGINES.append("remote-llama-server")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def llamacpp() -> Iterator[LlamaCppEngine]:
    engine = LlamaCppEngine(
        str(smollm2_gguf()), n_ctx=2048, n_seq_max=2, n_threads=1, prompt_cache_min_tokens=MIN_CACHE
    )
    run(engine.start())
    yield engine
    run(engine.close())


@pytest.fixture(params=ENGINES)
def opener(request: pytest.FixtureRequest) -> Opener:
    """Opens the engine under test inside the test's own event loop."""
    kind: str = request.param
    options = RemoteOptions(read_timeout=30, health_interval=60, prompt_cache_min_tokens=MIN_CACHE)
    shared = request.getfixturevalue("llamacpp") if kind == "llamacpp" else None

    @asynccontextmanager
    async def opened() -> AsyncIterator[Engine]:
        if shared is not None:
            yield shared
            return
        if kind == "fake":
            yield FakeEngine(prompt_cache_min_tokens=MIN_CACHE)
            return
        if kind == "vllm":
            engine: Engine = VllmEngine(VLLM_MODEL, name="vllm", options=VllmOptions(max_model_len=4096))
            await engine.start()
            try:
                yield engine
            finally:
                await engine.close()
            return
        with doubles({"dialect": "openai" if kind == "remote-vllm-dialect" else "llama"}) as [double]:
            spec = REAL_LLAMA_SERVER if kind == "remote-llama-server" else double.spec
            remote = RemoteEngine(str(smollm2_gguf()), [spec], name="remote", options=options)
            await remote.start()
            try:
                yield remote
            finally:
                await remote.close()

    return opened


def chat(engine: Engine, text: str) -> tuple[int, ...]:
    return tuple(engine.tokenize(CHAT.format(text)))


def check(opener: Opener, body: Callable[[Engine], Awaitable[None]]) -> None:
    async def scenario() -> None:
        async with opener() as engine:
            await body(engine)

    run(scenario())


async def collect(engine: Engine, request: GenerationRequest) -> list[TokenEvent]:
    return [event async for event in engine.generate(request)]


def test_facts_describe_the_vocabulary(opener: Opener) -> None:
    async def body(engine: Engine) -> None:
        facts = engine.facts
        assert facts.context_window > 0 and facts.vocab_size > 0
        assert facts.eog_token_ids and all(0 <= t < facts.vocab_size for t in facts.eog_token_ids)
        assert facts.eos_token

    check(opener, body)


def test_plain_text_round_trips_through_the_tokenizer(opener: Opener) -> None:
    async def body(engine: Engine) -> None:
        text = "Hello, wörld! 🙂 <b>42</b>"
        assert engine.detokenize(engine.tokenize(text, special=False)) == text

    check(opener, body)


def test_a_stream_is_tokens_then_one_finished(opener: Opener) -> None:
    async def body(engine: Engine) -> None:
        prompt = chat(engine, "Say hello.")
        events = await collect(engine, GenerationRequest(prompt=prompt, sampling=SamplingParams(12, temperature=0)))
        *head, last = events
        assert isinstance(last, Finished)
        assert all(isinstance(e, Token | PromptProgress) for e in head)
        ids = [e.id for e in head if isinstance(e, Token)]
        assert 0 < len(ids) == last.output_tokens <= 12
        assert last.prompt_tokens == len(prompt)
        assert 0 <= last.cached_tokens <= len(prompt)
        assert not set(ids) & engine.facts.eog_token_ids
        pieces = b"".join(e.piece for e in head if isinstance(e, Token))
        assert pieces.decode("utf-8", errors="replace") == engine.detokenize(ids)

    check(opener, body)


def test_max_tokens_ends_the_stream(opener: Opener) -> None:
    async def body(engine: Engine) -> None:
        request = GenerationRequest(prompt=chat(engine, "Count to one hundred."), sampling=SamplingParams(3, 0))
        last = (await collect(engine, request))[-1]
        assert isinstance(last, Finished)
        assert last.output_tokens <= 3
        assert last.reason == ("max_tokens" if last.output_tokens == 3 else "eos")

    check(opener, body)


def test_a_prompt_over_the_window_fails_before_any_event(opener: Opener) -> None:
    async def body(engine: Engine) -> None:
        prompt = (engine.tokenize("a", special=False)[0],) * (engine.facts.context_window + 1)
        with pytest.raises(PromptTooLong):
            await anext(aiter(engine.generate(GenerationRequest(prompt=prompt, sampling=SamplingParams(4)))))

    check(opener, body)


def test_cache_points_report_usage_first(opener: Opener) -> None:
    async def body(engine: Engine) -> None:
        prompt = chat(engine, "Remember this sentence about lighthouses and the sea. " * 3)
        request = GenerationRequest(
            prompt=prompt, sampling=SamplingParams(4, temperature=0), cache_points=(CachePoint(offset=MIN_CACHE + 4),)
        )
        events = await collect(engine, request)
        first = events[0]
        assert isinstance(first, PromptCacheUsage)
        assert first.read + first.creation == MIN_CACHE + 4
        assert isinstance(events[-1], Finished)

    check(opener, body)


def test_closing_a_stream_frees_its_sequence(opener: Opener) -> None:
    async def body(engine: Engine) -> None:
        request = GenerationRequest(prompt=chat(engine, "Tell me a long story."), sampling=SamplingParams(64, 0))
        stream = aiter(engine.generate(request))
        while not isinstance(await anext(stream), Token):
            pass
        await stream.aclose()  # type: ignore[attr-defined]
        for _ in range(200):
            if engine.stats().active_sequences == 0:
                break
            await asyncio.sleep(0.01)
        assert engine.stats().active_sequences == 0

    check(opener, body)
