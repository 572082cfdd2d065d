"""Cache usage through the server and the official SDK (fake engine).

Every response's ``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``
must equal the prompt size that ``count_tokens`` reports, and the split must follow
the contract: creation on the first request, reads after, nothing below the minimum.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx

from conftest import MODEL, LiveServer, add_key, assert_error, parse_sse, server_fixture

from .conftest import ManualClock, ask, cached_system, document, prompt_tokens, total


def test_first_request_writes_and_the_next_reads(client: anthropic.Anthropic) -> None:
    system = cached_system(document(3000))
    first = ask(client, system, "#say:one")
    size = prompt_tokens(client, system=system, messages=[{"role": "user", "content": "#say:one"}])
    assert total(first.usage) == size
    prefix = first.usage.cache_creation_input_tokens
    assert prefix > 3000  # the document plus the template's opening of the system turn
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == prefix
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert first.usage.input_tokens == size - prefix

    second = ask(client, system, "#say:another one")
    assert second.content[0].text == "another one"
    assert second.usage.cache_read_input_tokens == prefix
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_creation.ephemeral_5m_input_tokens == 0
    assert total(second.usage) == prompt_tokens(
        client, system=system, messages=[{"role": "user", "content": "#say:another one"}]
    )


def test_without_breakpoints_everything_is_uncached_input(client: anthropic.Anthropic) -> None:
    system = document(3000)
    for _ in range(2):
        usage = ask(client, system).usage
        assert usage.cache_creation_input_tokens == usage.cache_read_input_tokens == 0
        messages = [{"role": "user", "content": "#say:ok"}]
        assert usage.input_tokens == prompt_tokens(client, system=system, messages=messages)


def test_a_prefix_below_the_minimum_is_silently_not_cached(client: anthropic.Anthropic) -> None:
    system = cached_system(document(600))  # < 1,024 tokens
    for _ in range(2):
        usage = ask(client, system).usage
        assert usage.cache_creation_input_tokens == usage.cache_read_input_tokens == 0
        assert usage.cache_creation.ephemeral_5m_input_tokens == 0
        assert usage.input_tokens > 600


def test_mixed_ttls_split_the_creation(client: anthropic.Anthropic) -> None:
    long_lived, short_lived = document(2000), document(1500)
    system = [
        {"type": "text", "text": long_lived, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": short_lived, "cache_control": {"type": "ephemeral", "ttl": "5m"}},
    ]
    first = ask(client, system).usage
    one_hour = first.cache_creation.ephemeral_1h_input_tokens
    five_min = first.cache_creation.ephemeral_5m_input_tokens
    assert one_hour > 2000 and five_min >= 1500  # the second block and its separator
    assert first.cache_creation_input_tokens == one_hour + five_min
    # A new second block: the 1-hour prefix is read, the new block written for 5 minutes.
    system[1]["text"] = document(1500)
    second = ask(client, system).usage
    assert second.cache_read_input_tokens == one_hour
    assert (second.cache_creation.ephemeral_1h_input_tokens, second.cache_creation.ephemeral_5m_input_tokens) == (
        0,
        five_min,
    )


def test_ttl_expiry_and_refresh_on_hit(client: anthropic.Anthropic, clock: ManualClock) -> None:
    system = cached_system(document(2000))
    prefix = ask(client, system).usage.cache_creation_input_tokens
    clock.advance(4)
    assert ask(client, system).usage.cache_read_input_tokens == prefix
    clock.advance(4)  # 8 minutes after the write, 4 after the refreshing hit
    assert ask(client, system).usage.cache_read_input_tokens == prefix
    clock.advance(5.5)
    expired = ask(client, system).usage
    assert (expired.cache_read_input_tokens, expired.cache_creation_input_tokens) == (0, prefix)

    hour = cached_system(document(2000), ttl="1h")
    prefix = ask(client, hour).usage.cache_creation.ephemeral_1h_input_tokens
    clock.advance(55)
    assert ask(client, hour).usage.cache_read_input_tokens == prefix
    clock.advance(61)
    assert ask(client, hour).usage.cache_creation.ephemeral_1h_input_tokens == prefix


def _stream_usage(client: anthropic.Anthropic, **params: Any) -> tuple[Any, Any, str]:
    with client.messages.create(model=MODEL, max_tokens=16, stream=True, **params) as stream:
        events = list(stream)
    start = next(e for e in events if e.type == "message_start")
    delta = next(e for e in events if e.type == "message_delta")
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    return start.message.usage, delta.usage, text


def test_streaming_and_non_streaming_report_the_same_usage(client: anthropic.Anthropic) -> None:
    system = cached_system(document(2500))
    messages = [{"role": "user", "content": "#say:streamed"}]
    start, delta, text = _stream_usage(client, system=system, messages=messages)  # writes
    assert text == "streamed"
    assert start.cache_creation_input_tokens > 2500 and start.cache_read_input_tokens == 0
    assert (delta.input_tokens, delta.cache_creation_input_tokens, delta.cache_read_input_tokens) == (
        start.input_tokens,
        start.cache_creation_input_tokens,
        start.cache_read_input_tokens,
    )
    read_stream, read_delta, _ = _stream_usage(client, system=system, messages=messages)
    read_body = client.messages.create(model=MODEL, max_tokens=16, system=system, messages=messages).usage
    for usage in (read_stream, read_body):
        assert usage.cache_read_input_tokens == start.cache_creation_input_tokens
        assert usage.cache_creation_input_tokens == 0
        assert usage.input_tokens == start.input_tokens
    assert read_body.cache_creation == read_stream.cache_creation
    assert read_delta.cache_read_input_tokens == read_body.cache_read_input_tokens
    assert read_body.output_tokens == read_delta.output_tokens


def test_raw_message_start_carries_the_cache_fields(cache_server: LiveServer, clock: ManualClock) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 8,
        "stream": True,
        "system": cached_system(document(1500)),
        "messages": [{"role": "user", "content": "#say:x"}],
    }
    for expected_read in (False, True):
        r = httpx.post(f"{cache_server.base_url}/v1/messages", json=body, headers=cache_server.headers(), timeout=30)
        usage = parse_sse(r.text)[0][1]["message"]["usage"]
        assert set(usage) >= {
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "cache_creation",
        }
        creation = usage["cache_creation"]
        assert (
            creation["ephemeral_5m_input_tokens"] + creation["ephemeral_1h_input_tokens"]
            == usage["cache_creation_input_tokens"]
        )
        assert (usage["cache_read_input_tokens"] > 0) is expected_read


def test_automatic_caching_moves_with_the_conversation(client: anthropic.Anthropic) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": document(1500) + " #say:first"}]
    first = client.messages.create(model=MODEL, max_tokens=16, messages=messages, cache_control={"type": "ephemeral"})
    assert first.usage.cache_creation_input_tokens > 1500
    messages += [{"role": "assistant", "content": first.content[0].text}, {"role": "user", "content": "#say:second"}]
    second = client.messages.create(model=MODEL, max_tokens=16, messages=messages, cache_control={"type": "ephemeral"})
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens > 0  # the new turn, up to its last block


def test_max_tokens_zero_prewarms_the_cache(client: anthropic.Anthropic) -> None:
    system = cached_system(document(2000))
    warm = client.messages.create(
        model=MODEL, max_tokens=0, system=system, messages=[{"role": "user", "content": "#say:unused"}]
    )
    assert warm.content == [] and warm.stop_reason == "max_tokens" and warm.usage.output_tokens == 0
    assert warm.usage.cache_creation_input_tokens > 2000
    real = ask(client, system, "#say:warm")
    assert real.usage.cache_read_input_tokens == warm.usage.cache_creation_input_tokens


def test_invalid_ttl_order_is_a_400(cache_server: LiveServer, clock: ManualClock) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 8,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "b", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                ],
            }
        ],
    }
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        payload = body if path == "/v1/messages" else {k: v for k, v in body.items() if k != "max_tokens"}
        r = httpx.post(cache_server.base_url + path, json=payload, headers=cache_server.headers(), timeout=30)
        assert_error(r, 400, "invalid_request_error", contains="a ttl='1h' cache_control block must not come after")
        assert r.json()["error"]["message"].startswith("messages.0.content.1.cache_control.ttl: ")


def test_workspaces_are_isolated_keys_of_one_workspace_share(cache_server: LiveServer, clock: ManualClock) -> None:
    alice = add_key(cache_server, "wrkspc_cache_alice")
    alice_again = add_key(cache_server, "wrkspc_cache_alice")
    bob = add_key(cache_server, "wrkspc_cache_bob")
    system = cached_system(document(2000))
    written = ask(alice, system).usage.cache_creation_input_tokens
    assert written > 2000
    other = ask(bob, system).usage  # same prompt, another workspace: no read
    assert (other.cache_read_input_tokens, other.cache_creation_input_tokens) == (0, written)
    assert ask(alice_again, system).usage.cache_read_input_tokens == written
    assert ask(bob, system).usage.cache_read_input_tokens == written  # bob's own entry


# The fake engine counts 1,024 bytes per cached token: room for two 2,100-token prefixes.
small_cache_server = server_fixture("small_cache_server", "small-cache", prompt_cache_bytes=4500 * 1024)


def test_lru_eviction_under_a_small_budget(small_cache_server: LiveServer) -> None:
    client = small_cache_server.client()
    a, b, c = (cached_system(document(2080)) for _ in range(3))
    size = ask(client, a).usage.cache_creation_input_tokens
    assert size > 2080
    assert ask(client, b).usage.cache_creation_input_tokens == size
    assert ask(client, a).usage.cache_read_input_tokens == size  # a is now the most recently used
    assert ask(client, c).usage.cache_creation_input_tokens == size  # evicts b
    assert ask(client, a).usage.cache_read_input_tokens == size
    assert ask(client, c).usage.cache_read_input_tokens == size
    assert ask(client, b).usage.cache_creation_input_tokens == size  # b was evicted
    stats = small_cache_server.engine.prompt_cache.stats()
    assert stats.bytes <= stats.budget_bytes and stats.evictions >= 2
    too_big = ask(client, cached_system(document(5000))).usage  # larger than the whole budget
    assert too_big.cache_creation_input_tokens == too_big.cache_read_input_tokens == 0
