"""Rate limits end to end: a real server (fake engine) on a real socket, the official SDK
and raw HTTP. Each test starts its own server so buckets start full."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import MODEL, LiveServer, assert_error, body, fake_settings, parse_sse, running
from epistula.config import RateLimitConfig

RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
TRIOS = ("requests", "input-tokens", "output-tokens", "tokens")


@contextmanager
def limited(tmp_path: Path, *rules: RateLimitConfig, **settings: Any) -> Iterator[LiveServer]:
    with running(fake_settings(tmp_path, rate_limits=list(rules), **settings)) as live:
        yield live


def ratelimit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("anthropic-ratelimit-")}


def assert_header_formats(headers: Mapping[str, str]) -> None:
    for trio in TRIOS:
        assert headers[f"anthropic-ratelimit-{trio}-limit"].isdigit(), headers
        assert headers[f"anthropic-ratelimit-{trio}-remaining"].isdigit(), headers
        assert RFC3339.fullmatch(headers[f"anthropic-ratelimit-{trio}-reset"]), headers


def rejected_429s(live: LiveServer) -> float:
    text = httpx.get(live.base_url + "/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "epistula_requests":
            return sum(
                s.value
                for s in family.samples
                if s.labels.get("status") == "429" and s.labels.get("route") == "/v1/messages"
            )
    return 0.0


EVERYTHING = RateLimitConfig(requests_per_minute=50, input_tokens_per_minute=30_000, output_tokens_per_minute=8_000)


def test_success_carries_every_header_json_and_stream(tmp_path: Path) -> None:
    with limited(tmp_path, EVERYTHING) as live:
        client = live.client()
        raw = client.messages.with_raw_response.create(**body("#say:hello"))
        assert raw.parse().content[0].text == "hello"
        assert_header_formats(raw.headers)
        assert raw.headers["anthropic-ratelimit-requests-limit"] == "50"
        assert raw.headers["anthropic-ratelimit-requests-remaining"] == "49"
        assert raw.headers["anthropic-ratelimit-input-tokens-limit"] == "30000"
        assert raw.headers["anthropic-ratelimit-output-tokens-limit"] == "8000"
        assert raw.headers["anthropic-ratelimit-tokens-limit"] == "8000"  # the tighter token bucket
        for trio in ("input-tokens", "output-tokens", "tokens"):
            assert int(raw.headers[f"anthropic-ratelimit-{trio}-remaining"]) % 1000 == 0

        with httpx.stream(
            "POST", live.base_url + "/v1/messages", json=body("#say:hi", stream=True), headers=live.headers()
        ) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert_header_formats(resp.headers)
            assert resp.headers["anthropic-ratelimit-requests-remaining"] == "48"
            events = parse_sse(resp.read().decode())
        assert events[-1][0] == "message_stop"


def test_no_rule_no_limit_no_headers(fake_server: LiveServer) -> None:
    raw = fake_server.client().messages.with_raw_response.create(**body())
    assert ratelimit_headers(raw.headers) == {}


def test_burst_beyond_the_request_limit_gets_429_with_retry_after_and_headers(tmp_path: Path) -> None:
    with limited(tmp_path, RateLimitConfig(requests_per_minute=5, output_tokens_per_minute=8_000)) as live:
        client = live.client()
        remaining = [
            client.messages.with_raw_response.create(**body()).headers["anthropic-ratelimit-requests-remaining"]
            for _ in range(5)
        ]
        assert remaining == ["4", "3", "2", "1", "0"]
        resp = httpx.post(live.base_url + "/v1/messages", json=body(), headers=live.headers())
        payload = assert_error(resp, 429, "rate_limit_error", contains="5 requests per minute")
        assert "wrkspc_default" in payload["error"]["message"]
        assert 1 <= int(resp.headers["retry-after"]) <= 13  # one request per 12 s
        assert int(resp.headers["retry-after-ms"]) > 0
        assert resp.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert resp.headers["anthropic-ratelimit-requests-limit"] == "5"
        assert RFC3339.fullmatch(resp.headers["anthropic-ratelimit-requests-reset"])
        assert resp.headers["anthropic-ratelimit-output-tokens-limit"] == "8000"

        with pytest.raises(anthropic.RateLimitError) as raised:
            client.messages.create(**body())
        assert raised.value.status_code == 429
        assert raised.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
        assert raised.value.response.headers["retry-after"].isdigit()

        stream = httpx.post(live.base_url + "/v1/messages", json=body(stream=True), headers=live.headers())
        assert_error(stream, 429, "rate_limit_error")  # refused before any stream starts: a JSON 429


def test_the_sdk_retry_succeeds_after_a_429(tmp_path: Path) -> None:
    # 6,000 input tokens per minute refill at 100 per second. A prompt ~200 tokens larger
    # than the whole bucket is admitted on a full bucket and leaves it in debt, so the
    # next request is refused for about two seconds: long enough to be sure the SDK's
    # first attempt gets the 429, short enough to wait for its retry.
    with limited(tmp_path, RateLimitConfig(input_tokens_per_minute=6_000)) as live:
        big = live.client().messages.create(**body("#say:ok " + "x" * 6_150))
        assert big.usage.input_tokens > 6_000
        refused = httpx.post(live.base_url + "/v1/messages", json=body(), headers=live.headers())
        assert_error(refused, 429, "rate_limit_error", contains="6,000 input tokens per minute")
        before = rejected_429s(live)
        message = live.client(max_retries=3).messages.create(**body("#say:made it"))
        assert message.content[0].text == "made it"
        assert rejected_429s(live) >= before + 1  # the SDK's first attempt was refused


def test_output_tokens_are_reserved_from_max_tokens_and_refunded_at_the_end(tmp_path: Path) -> None:
    with limited(tmp_path, RateLimitConfig(output_tokens_per_minute=1_000)) as live:
        client = live.client()
        with client.messages.stream(**body("#slow:100 #say:0123456789", max_tokens=900)) as running:
            next(iter(running))  # admitted and generating: 900 of 1,000 reserved
            with pytest.raises(anthropic.RateLimitError) as raised:
                client.messages.create(**body(max_tokens=200))
            assert "1,000 output tokens per minute" in raised.value.message
            final = running.get_final_message()
        assert final.usage.output_tokens == 10
        # 890 unused tokens went back when the stream ended: this fits again at once
        client.messages.create(**body(max_tokens=200))


def test_per_key_limits_stack_on_the_workspace_limit(tmp_path: Path) -> None:
    rules = (RateLimitConfig(requests_per_minute=100), RateLimitConfig(key="*", requests_per_minute=2))
    with limited(tmp_path, *rules) as live:
        client = live.client()
        first = client.messages.with_raw_response.create(**body())
        assert first.headers["anthropic-ratelimit-requests-limit"] == "2"  # the tighter of the two
        client.messages.create(**body())
        with pytest.raises(anthropic.RateLimitError) as raised:
            client.messages.create(**body())
        assert "your API key (apikey_" in raised.value.message
        assert "sk-" not in raised.value.message  # names the key by id, never by secret


def test_model_rules_apply_through_aliases_and_only_to_their_model(tmp_path: Path) -> None:
    with limited(tmp_path, RateLimitConfig(model=MODEL, requests_per_minute=1)) as live:
        client = live.client()
        served = live.model_id
        client.messages.create(**body(model=served))  # the alias and the served id share one bucket
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(**body(model=MODEL))
        assert ratelimit_headers(client.models.with_raw_response.list().headers) == {}


def test_an_unreachable_redis_admits_without_limits(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]  # nothing listens once the socket is closed
    with limited(
        tmp_path, RateLimitConfig(requests_per_minute=1), redis_url=f"redis://127.0.0.1:{closed_port}/0"
    ) as live:
        for _ in range(3):
            raw = live.client().messages.with_raw_response.create(**body())
            assert raw.parse().stop_reason == "end_turn"
            assert ratelimit_headers(raw.headers) == {}


def test_cache_reads_do_not_count_toward_the_input_token_limit(tmp_path: Path) -> None:
    # ~4,900 cached system tokens against 20,000 input tokens per minute: counted in full,
    # the fifth request would be refused; as cache reads they cost ~30 tokens each.
    system = [{"type": "text", "text": "policy " * 700, "cache_control": {"type": "ephemeral"}}]
    with limited(tmp_path, RateLimitConfig(input_tokens_per_minute=20_000)) as live:
        client = live.client()
        first = client.messages.create(**body("#say:ok"), system=system)
        assert first.usage.cache_creation_input_tokens > 4_000  # cache writes do count
        for _ in range(8):
            raw = client.messages.with_raw_response.create(**body("#say:ok"), system=system)
            usage = raw.parse().usage
            assert usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
            # the whole prompt is reserved up front, the cache read given back at the end
            assert int(raw.headers["anthropic-ratelimit-input-tokens-remaining"]) >= 10_000
