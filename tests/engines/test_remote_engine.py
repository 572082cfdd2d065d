"""The remote engine against upstream doubles replaying real llama-server traffic.

Replay (tokens, finish reasons, cached counts exactly as llama-server sent them), the
request bodies the engine sends, failover before the first token, errors (never a hang)
after it, tokenizer agreement at start, and prefix-affinity routing over several upstreams.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from epistula.engines.base import (
    CachePoint,
    EngineError,
    Finished,
    GenerationRequest,
    PromptCacheUsage,
    PromptTooLong,
    SamplingParams,
    Token,
    TokenEvent,
)
from epistula.engines.remote.engine import RemoteEngine, RemoteOptions, TokenizerMismatch
from real_parts import smollm2_gguf

from .upstream_double import doubles, exchange, recorded_tokens

T = TypeVar("T")
FAST = RemoteOptions(read_timeout=1.0, connect_timeout=1.0, health_interval=60, prompt_cache_min_tokens=1024)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def engine(*specs: str, options: RemoteOptions = FAST) -> RemoteEngine:
    return RemoteEngine(str(smollm2_gguf()), specs, name="smollm2", options=options)


def recorded(name: str) -> GenerationRequest:
    """The request whose body the recording holds (so the double replays that exchange)."""
    body = exchange(name)["request"]
    grammar = body.get("grammar")
    sampling = SamplingParams(max_tokens=body["n_predict"], temperature=0, grammar=grammar)
    return GenerationRequest(prompt=tuple(body["prompt"]), sampling=sampling)


async def collect(eng: RemoteEngine, request: GenerationRequest) -> list[TokenEvent]:
    return [event async for event in eng.generate(request)]


async def started(eng: RemoteEngine) -> RemoteEngine:
    await eng.start()
    return eng


def tokens(events: list[TokenEvent]) -> list[int]:
    return [e.id for e in events if isinstance(e, Token)]


def finished(events: list[TokenEvent]) -> Finished:
    last = events[-1]
    assert isinstance(last, Finished)
    return last


# ---------------------------------------------------------------- replay of real traffic


@pytest.mark.parametrize("dialect", ["llama", "openai"])
@pytest.mark.parametrize(("name", "reason"), [("limit", "max_tokens"), ("eos", "eos"), ("grammar", "eos")])
def test_replays_recorded_tokens_and_finish(dialect: str, name: str, reason: str) -> None:
    async def scenario() -> None:
        with doubles({"dialect": dialect, "default": name}) as [double]:
            eng = await started(engine(double.spec))
            try:
                events = await collect(eng, recorded(name))
            finally:
                await eng.close()
            eog = eng.facts.eog_token_ids
            expected = [t for t in recorded_tokens(name) if t not in eog]
            assert tokens(events) == expected
            done = finished(events)
            assert (done.reason, done.output_tokens) == (reason, len(expected))
            assert done.prompt_tokens == len(recorded(name).prompt)
            text = b"".join(e.piece for e in events if isinstance(e, Token)).decode()
            assert text == eng.detokenize(expected)

    run(scenario())


@pytest.mark.parametrize("dialect", ["llama", "openai"])
def test_finished_streams_are_read_to_their_end_and_reuse_one_connection(dialect: str) -> None:
    async def scenario() -> None:
        with doubles({"dialect": dialect}) as [double]:
            eng = await started(engine(double.spec))
            try:
                for name in ("limit", "eos", "limit"):  # epistula's own limit and end, then the upstream's
                    double.default = name
                    done = finished(await collect(eng, recorded(name)))
                    final = json.loads(exchange(name)["lines"][-1][5:])
                    assert done.cached_tokens == final["timings"]["cache_n"]
                opened = eng.upstreams[0].connections_opened
            finally:
                await eng.close()
            assert opened == 1

    run(scenario())


def test_an_upstream_generating_past_our_limit_is_cut_at_once() -> None:
    """The double replays 24 tokens whatever ``n_predict`` says: the engine stops at its own
    limit and drops the connection (the upstream stops) instead of reading on."""

    async def scenario() -> None:
        with doubles({"default": "limit"}) as [double]:
            eng = await started(engine(double.spec))
            base = recorded("limit")
            request = GenerationRequest(prompt=base.prompt, sampling=SamplingParams(max_tokens=5, temperature=0))
            try:
                events = await collect(eng, request)
                await collect(eng, recorded("limit"))
                opened = eng.upstreams[0].connections_opened
            finally:
                await eng.close()
            assert tokens(events) == recorded_tokens("limit")[:5]
            assert finished(events).reason == "max_tokens"
            assert opened == 2

    run(scenario())


def test_sends_token_ids_cache_prompt_and_grammar_to_llama_server() -> None:
    async def scenario() -> None:
        with doubles({"default": "grammar"}) as [double]:
            eng = await started(engine(double.spec))
            try:
                await collect(eng, recorded("grammar"))
            finally:
                await eng.close()
            body = double.received[-1]
            assert body == exchange("grammar")["request"]
            assert body["cache_prompt"] is True and body["return_tokens"] is True
            assert body["grammar"] == 'root ::= "yes" | "no"'

    run(scenario())


def test_vllm_body_has_token_prompt_structured_outputs_and_namespace_salt() -> None:
    async def scenario() -> None:
        with doubles({"dialect": "openai", "default": "grammar"}) as [double]:
            eng = await started(engine(double.spec))
            request = GenerationRequest(
                prompt=recorded("grammar").prompt, sampling=recorded("grammar").sampling, cache_namespace="wrkspc_a"
            )
            try:
                await collect(eng, request)
            finally:
                await eng.close()
            body = double.received[-1]
            assert body["prompt"] == list(request.prompt)
            assert body["structured_outputs"] == {"grammar": 'root ::= "yes" | "no"'}
            assert body["return_token_ids"] is True and body["cache_salt"]

    run(scenario())


def test_cached_prompt_tokens_come_from_the_upstream() -> None:
    """The second long-prefix request was served mostly from llama-server's cache: the
    engine reports its count, and the cache usage read at the breakpoint it covers. The
    usage goes out before the first token, so the count is the first progress event's:
    token events carry no timings (the engine does not ask for ``timings_per_token``)."""

    async def scenario() -> None:
        with doubles({"default": "long_prefix_2"}) as [double]:
            eng = await started(engine(double.spec))
            base = recorded("long_prefix_2")
            request = GenerationRequest(
                prompt=base.prompt, sampling=base.sampling, cache_points=(CachePoint(offset=1200),)
            )
            try:
                events = await collect(eng, request)
            finally:
                await eng.close()
            lines = [json.loads(line[5:]) for line in exchange("long_prefix_2")["lines"] if line.startswith("data:")]
            cache_n = lines[-1]["timings"]["cache_n"]
            assert cache_n > 1200
            assert isinstance(events[0], PromptCacheUsage)
            assert (events[0].read, events[0].creation) == (1200, 0)
            assert finished(events).cached_tokens == cache_n
            assert eng.stats().prompt_tokens_reused == cache_n
            assert "timings_per_token" not in double.received[-1]
            assert not any("timings" in line for line in lines[:-1])

    run(scenario())


def test_upstream_400_is_an_engine_error_without_failover() -> None:
    async def scenario() -> None:
        with doubles({"default": "bad_grammar"}, {"default": "bad_grammar"}) as ups:
            eng = await started(engine(*(d.spec for d in ups)))
            try:
                with pytest.raises(EngineError, match="400"):
                    await collect(eng, recorded("bad_grammar"))
            finally:
                await eng.close()
            assert sum(len(d.received) for d in ups) == 1

    run(scenario())


def test_prompt_longer_than_the_upstream_window_is_refused_before_sending() -> None:
    async def scenario() -> None:
        with doubles({}) as [double]:
            eng = await started(engine(double.spec))
            try:
                assert eng.facts.context_window == 4096  # a slot's window, from the recorded /props
                with pytest.raises(PromptTooLong):
                    await collect(eng, GenerationRequest(prompt=(1,) * 4097, sampling=SamplingParams(max_tokens=4)))
            finally:
                await eng.close()
            assert double.received == []

    run(scenario())


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize("fault", ["down", "error500", "drop0"])
def test_failover_before_the_first_token(fault: str) -> None:
    async def scenario() -> None:
        first = {"fault": "drop", "after": 0} if fault == "drop0" else {"fault": fault}
        with doubles({}, {}) as (bad, good):
            eng = await started(engine(bad.spec, good.spec))
            bad.fault, bad.after = first["fault"], int(first.get("after", 3))  # type: ignore[assignment]
            try:
                events = await collect(eng, recorded("limit"))
            finally:
                await eng.close()
            assert tokens(events) == recorded_tokens("limit")[: len(tokens(events))]
            assert finished(events).reason == "max_tokens"
            assert len(good.received) == 1
            assert not eng.upstreams[0].healthy

    run(scenario())


@pytest.mark.parametrize("fault", ["drop", "stall"])
def test_failure_after_the_first_token_raises_instead_of_hanging(fault: str) -> None:
    async def scenario() -> None:
        with doubles({}, {}) as (bad, other):
            eng = await started(engine(bad.spec, other.spec))
            bad.fault, bad.after = fault, 5  # type: ignore[assignment]
            other.fault = "down"
            seen: list[TokenEvent] = []
            try:
                with pytest.raises(EngineError, match="upstream"):
                    async with asyncio.timeout(10):
                        async for event in eng.generate(recorded("limit")):
                            seen.append(event)
            finally:
                await eng.close()
            assert tokens(seen)  # the error came after tokens were streamed
            assert other.received == []  # no failover once tokens went out

    run(scenario())


def test_every_upstream_down_is_an_engine_error() -> None:
    async def scenario() -> None:
        with doubles({}, {}) as ups:
            eng = await started(engine(*(d.spec for d in ups)))
            for double in ups:
                double.fault = "down"
            try:
                with pytest.raises(EngineError, match="every upstream failed"):
                    await collect(eng, recorded("limit"))
            finally:
                await eng.close()

    run(scenario())


def test_an_upstream_that_just_served_is_not_probed() -> None:
    """The health loop skips an upstream whose last stream ended well within the interval;
    one idle that long, or marked down, is probed again."""

    async def scenario() -> None:
        with doubles({}) as [double]:
            eng = await started(engine(double.spec))
            try:
                assert eng._probe_due(0)  # checked at start, never served since
                await collect(eng, recorded("limit"))
                assert not eng._probe_due(0)
                eng.upstreams[0].last_served -= FAST.health_interval
                assert eng._probe_due(0)
                await collect(eng, recorded("limit"))
                eng.upstreams[0].mark_down("test")
                assert eng._probe_due(0)
            finally:
                await eng.close()

    run(scenario())


def test_unreachable_upstream_at_start_is_skipped() -> None:
    async def scenario() -> None:
        with doubles({}) as [good]:
            eng = await started(engine("http://127.0.0.1:9", good.spec))
            try:
                events = await collect(eng, recorded("limit"))
            finally:
                await eng.close()
            assert finished(events).reason == "max_tokens"

    run(scenario())


def test_tokenizer_mismatch_refuses_to_start_with_a_clear_message() -> None:
    async def scenario() -> None:
        with doubles({}, {"fault": "mismatch"}) as (_good, bad):
            eng = engine(_good.spec, bad.spec)
            try:
                with pytest.raises(TokenizerMismatch, match=f"upstream {bad.url} tokenizes differently"):
                    await eng.start()
            finally:
                await eng.close()

    run(scenario())


# ---------------------------------------------------------------- routing


def _conversation(turn: int, namespace: str = "ns") -> GenerationRequest:
    """Turn ``turn`` of a conversation: the previous turn's prompt, extended."""
    base = list(recorded("long_prefix_1").prompt[:600])
    prompt = tuple(base + [198] * (64 * turn) + [28])
    return GenerationRequest(prompt=prompt, sampling=SamplingParams(max_tokens=4), cache_namespace=namespace)


def test_a_conversation_stays_on_the_upstream_holding_its_prefix() -> None:
    async def scenario() -> None:
        with doubles({}, {}, {}) as ups:
            eng = await started(engine(*(d.spec for d in ups)))
            try:
                for turn in range(4):
                    await collect(eng, _conversation(turn))
                await collect(eng, _conversation(0, namespace="other"))
            finally:
                await eng.close()
            counts = sorted(len(d.received) for d in ups)
            assert counts == [0, 1, 4]  # one conversation on one upstream; the other namespace elsewhere
            stats = eng.stats()
            assert (stats.routed_requests, stats.routed_prefix_hits) == (5, 3)

    run(scenario())


def test_the_prefix_holder_going_down_sends_the_conversation_elsewhere() -> None:
    async def scenario() -> None:
        with doubles({}, {}) as ups:
            eng = await started(engine(*(d.spec for d in ups)))
            try:
                await collect(eng, _conversation(0))
                holder = next(d for d in ups if d.received)
                holder.fault = "down"
                events = await collect(eng, _conversation(1))
            finally:
                await eng.close()
            assert isinstance(events[-1], Finished)
            other = next(d for d in ups if d is not holder)
            assert len(other.received) == 1

    run(scenario())


def test_concurrent_unrelated_requests_spread_by_load() -> None:
    async def scenario() -> None:
        with doubles({}, {}) as ups:
            eng = await started(engine(*(d.spec for d in ups)))
            try:
                requests = [
                    GenerationRequest(prompt=(1, 2, 3, i), sampling=SamplingParams(max_tokens=4)) for i in range(4)
                ]
                await asyncio.gather(*(collect(eng, r) for r in requests))
            finally:
                await eng.close()
            assert all(d.received for d in ups)

    run(scenario())
