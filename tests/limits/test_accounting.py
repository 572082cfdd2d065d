"""The rate-limit hook's arithmetic, driven through the gate with real ``Usage`` objects:
which rule applies, what is reserved, what is corrected, and the header formats."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from epistula.auth.keys import Principal
from epistula.config import RateLimitConfig
from epistula.errors import RateLimitError
from epistula.generation.gate import Admission, Gate
from epistula.limits.backend import Demand, InProcessLimiter
from epistula.limits.hook import RateLimitHook
from epistula.limits.rules import RateLimitRules
from epistula.protocol.usage import Usage

RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
ALICE = Principal(key_id="apikey_alice", workspace_id="wrkspc_a", name="alice")
BOB = Principal(key_id="apikey_bob", workspace_id="wrkspc_a", name="bob")
CAROL = Principal(key_id="apikey_carol", workspace_id="wrkspc_b", name="carol")


def admission(
    principal: Principal = ALICE, *, model: str = "m", input_tokens: int = 100, max_tokens: int = 50
) -> Admission:
    return Admission(
        request_id="req_x", principal=principal, model=model, input_tokens=input_tokens, max_tokens=max_tokens
    )


def hook_for(*rules: RateLimitConfig) -> tuple[RateLimitHook, InProcessLimiter]:
    backend = InProcessLimiter()
    return RateLimitHook(RateLimitRules(list(rules)), backend), backend


async def level(backend: InProcessLimiter, bucket: str, capacity: int) -> float:
    """A bucket's level, read by taking nothing."""
    return (await backend.take([Demand(bucket, capacity=capacity, amount=0)])).levels[0]


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_no_rules_no_headers_no_limits() -> None:
    async def scenario() -> None:
        hook, _ = hook_for()
        for _ in range(100):
            a = admission()
            await hook.admit(a)
            assert a.headers == {}

    run(scenario)


def test_cache_reads_do_not_count_toward_input_tokens() -> None:
    async def scenario() -> None:
        hook, backend = hook_for(RateLimitConfig(input_tokens_per_minute=100_000))
        bucket = "workspace:wrkspc_a:m:input_tokens"
        a = admission(input_tokens=5_000)
        await hook.admit(a)
        assert 94_999 < await level(backend, bucket, 100_000) <= 95_001  # the whole prompt, up front
        usage = Usage(input_tokens=200, output_tokens=3, cache_read_input_tokens=4_000, cache_creation_input_tokens=800)
        await hook.finish(a, usage, "succeeded")
        # corrected to input + cache writes: 1,000 tokens, not the 4,000 read from the cache
        assert 98_999 < await level(backend, bucket, 100_000) <= 99_001

    run(scenario)


def test_output_tokens_are_estimated_from_max_tokens_then_corrected() -> None:
    async def scenario() -> None:
        hook, backend = hook_for(RateLimitConfig(output_tokens_per_minute=1_000))
        bucket = "workspace:wrkspc_a:m:output_tokens"
        first = admission(max_tokens=800)
        await hook.admit(first)
        assert await level(backend, bucket, 1_000) < 200.1
        with pytest.raises(RateLimitError) as refused:
            await hook.admit(admission(max_tokens=500))  # would fit the output it really needs, not max_tokens
        assert "1,000 output tokens per minute" in refused.value.message
        await hook.finish(first, Usage(input_tokens=100, output_tokens=30), "succeeded")
        assert 969.9 < await level(backend, bucket, 1_000) <= 970.1
        await hook.admit(admission(max_tokens=500))

    run(scenario)


def test_an_abandoned_stream_pays_for_the_output_it_produced() -> None:
    async def scenario() -> None:
        hook, backend = hook_for(RateLimitConfig(output_tokens_per_minute=1_000))
        a = admission(max_tokens=800)
        await hook.admit(a)
        a.output_tokens = 120  # what metered saw before the client went away
        await hook.finish(a, None, "canceled")
        assert 879.9 < await level(backend, "workspace:wrkspc_a:m:output_tokens", 1_000) <= 880.1

    run(scenario)


def test_a_later_hook_refusing_gives_everything_back() -> None:
    class Refuse:
        async def admit(self, admission: Admission) -> None:
            raise RateLimitError("no")

        async def release(self, admission: Admission) -> None: ...

        async def finish(self, admission: Admission, usage: Usage | None, outcome: str) -> None: ...

    async def scenario() -> None:
        hook, backend = hook_for(RateLimitConfig(requests_per_minute=5, input_tokens_per_minute=10_000))
        gate = Gate([hook, Refuse()])
        with pytest.raises(RateLimitError):
            await gate.admit(admission())
        assert await level(backend, "workspace:wrkspc_a:m:requests", 5) == 5
        assert await level(backend, "workspace:wrkspc_a:m:input_tokens", 10_000) == 10_000

    run(scenario)


def test_most_specific_rule_wins_and_key_limits_stack_on_workspace_limits() -> None:
    rules = RateLimitRules(
        [
            RateLimitConfig(requests_per_minute=100),
            RateLimitConfig(workspace="wrkspc_a", requests_per_minute=50),
            RateLimitConfig(workspace="wrkspc_a", model="big", requests_per_minute=5),
            RateLimitConfig(key="*", requests_per_minute=20),
            RateLimitConfig(key="apikey_bob", requests_per_minute=2),
        ]
    )

    def rpm(principal: Principal, model: str) -> dict[str, int]:
        found = rules.limits(workspace_id=principal.workspace_id, key_id=principal.key_id, model=model)
        return {f"{limit.scope}:{limit.scope_id}": limit.per_minute for limit in found}

    assert rpm(ALICE, "m") == {"workspace:wrkspc_a": 50, "key:apikey_alice": 20}
    assert rpm(ALICE, "big") == {"workspace:wrkspc_a": 5, "key:apikey_alice": 20}
    assert rpm(BOB, "m") == {"workspace:wrkspc_a": 50, "key:apikey_bob": 2}
    assert rpm(CAROL, "m") == {"workspace:wrkspc_b": 100, "key:apikey_carol": 20}


def test_rule_models_may_be_aliases() -> None:
    aliases = {"claude-haiku-4-5": "m"}
    rules = RateLimitRules([RateLimitConfig(model="claude-haiku-4-5", requests_per_minute=3)], aliases.__getitem__)
    assert [lim.model for lim in rules.limits(workspace_id="w", key_id="k", model="m")] == ["m"]
    assert rules.limits(workspace_id="w", key_id="k", model="other") == []


def test_headers_have_the_real_formats() -> None:
    async def scenario() -> None:
        hook, _ = hook_for(
            RateLimitConfig(requests_per_minute=50, input_tokens_per_minute=30_000, output_tokens_per_minute=8_000)
        )
        a = admission(input_tokens=1_234, max_tokens=600)
        await hook.admit(a)
        h = a.headers
        assert h["anthropic-ratelimit-requests-limit"] == "50"
        assert h["anthropic-ratelimit-requests-remaining"] == "49"
        assert h["anthropic-ratelimit-input-tokens-limit"] == "30000"
        assert h["anthropic-ratelimit-input-tokens-remaining"] == "29000"  # 28,766 to the nearest thousand
        assert h["anthropic-ratelimit-output-tokens-limit"] == "8000"
        assert h["anthropic-ratelimit-output-tokens-remaining"] == "7000"  # 7,400
        # the most restrictive token bucket: output (7,400 left) rather than input (28,766)
        assert h["anthropic-ratelimit-tokens-limit"] == "8000"
        assert h["anthropic-ratelimit-tokens-remaining"] == "7000"
        for name in ("requests", "input-tokens", "output-tokens", "tokens"):
            assert RFC3339.fullmatch(h[f"anthropic-ratelimit-{name}-reset"]), h

    run(scenario)


def test_refusal_carries_retry_after_and_zero_remaining() -> None:
    async def scenario() -> None:
        hook, _ = hook_for(RateLimitConfig(requests_per_minute=2, output_tokens_per_minute=8_000))
        await hook.admit(admission())
        await hook.admit(admission())
        with pytest.raises(RateLimitError) as refused:
            await hook.admit(admission())
        error = refused.value
        assert error.status == 429 and error.error_type == "rate_limit_error"
        assert error.retry_after is not None and 0 < error.retry_after <= 31  # one request per 30 s
        assert error.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert error.headers["anthropic-ratelimit-output-tokens-remaining"] == "8000"
        assert "workspace (wrkspc_a) of 2 requests per minute" in error.message

    run(scenario)


def test_batch_items_are_not_counted() -> None:
    async def scenario() -> None:
        hook, _ = hook_for(RateLimitConfig(requests_per_minute=1))
        for _ in range(5):
            item = admission()
            item.batch = True
            await hook.admit(item)
            assert item.headers == {}
        await hook.admit(admission())

    run(scenario)
