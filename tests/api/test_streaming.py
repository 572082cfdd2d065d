"""Streaming (SSE) over a real socket: event order, framing, cumulative usage, pings,
errors after the 200, client disconnects, and the SDK's stream helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from conftest import (
    API_KEY,
    MESSAGE_ID_RE,
    MODEL,
    REQUEST_ID_RE,
    V2023,
    V2026,
    LiveServer,
    body,
    chatml,
    fake_settings,
    fake_tokens,
    parse_sse,
    serving,
    wait_until,
)

HEADERS = {"x-api-key": API_KEY, "anthropic-version": V2023}


def stream(http: httpx.Client, payload: dict[str, Any]) -> httpx.Response:
    resp = http.post("/v1/messages", json={**payload, "stream": True}, headers=HEADERS)
    assert resp.status_code == 200, resp.text
    return resp


THREE_DELTAS = ["message_start", "content_block_start", "ping", *["content_block_delta"] * 3]
"""How a one-block stream of three text deltas opens (the fake engine: one delta a character)."""


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


def text_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")


# ---------------------------------------------------------------- order and framing


def test_stream_event_order_is_exact(http: httpx.Client) -> None:
    events = parse_sse(stream(http, body("#say:Hi!")).text)
    assert names(events) == [*THREE_DELTAS, "content_block_stop", "message_delta", "message_stop"]
    assert text_of(events) == "Hi!"


def test_stream_response_headers(http: httpx.Client) -> None:
    resp = stream(http, body("#say:x"))
    assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert resp.headers.get("cache-control") == "no-cache"
    assert REQUEST_ID_RE.fullmatch(resp.headers["request-id"])
    assert resp.headers.get("anthropic-organization-id")


def test_message_start_carries_an_empty_message_with_input_usage(http: httpx.Client) -> None:
    events = parse_sse(stream(http, body("#say:abc")).text)
    start = events[0][1]["message"]
    assert MESSAGE_ID_RE.fullmatch(start["id"])
    assert start["type"] == "message" and start["role"] == "assistant"
    assert start["model"] == MODEL
    assert start["content"] == []
    assert start["stop_reason"] is None and start["stop_sequence"] is None
    assert start["usage"]["input_tokens"] == fake_tokens(chatml([("user", "#say:abc")]))
    assert 0 <= start["usage"]["output_tokens"] <= 5


def test_content_block_events_share_one_index_and_start_empty(http: httpx.Client) -> None:
    events = parse_sse(stream(http, body("#say:hello")).text)
    block_events = [d for n, d in events if n.startswith("content_block_")]
    assert {d["index"] for d in block_events} == {0}
    start = next(d for n, d in events if n == "content_block_start")
    assert start["content_block"]["type"] == "text" and start["content_block"]["text"] == ""
    assert all(d["delta"]["type"] == "text_delta" for n, d in events if n == "content_block_delta")


def test_message_delta_usage_is_cumulative(http: httpx.Client) -> None:
    events = parse_sse(stream(http, body("#say:twelve bytes")).text)
    start_usage = events[0][1]["message"]["usage"]
    [delta] = [d for n, d in events if n == "message_delta"]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["delta"]["stop_sequence"] is None
    assert delta["usage"]["output_tokens"] == len(b"twelve bytes")
    if delta["usage"].get("input_tokens") is not None:
        assert delta["usage"]["input_tokens"] == start_usage["input_tokens"]


def test_stream_stop_sequence_is_withheld_and_reported(http: httpx.Client) -> None:
    events = parse_sse(stream(http, body("#say:Hello STOP world", stop_sequences=["STOP"])).text)
    assert text_of(events) == "Hello "
    delta = next(d for n, d in events if n == "message_delta")
    assert delta["delta"] == {**delta["delta"], "stop_reason": "stop_sequence", "stop_sequence": "STOP"}
    assert names(events)[-1] == "message_stop"


def test_stream_max_tokens(http: httpx.Client) -> None:
    events = parse_sse(stream(http, body("#say:abcdefghij", max_tokens=4)).text)
    assert text_of(events) == "abcd"
    delta = next(d for n, d in events if n == "message_delta")
    assert delta["delta"]["stop_reason"] == "max_tokens"
    assert delta["usage"]["output_tokens"] == 4


def test_stream_of_an_empty_reply_is_well_formed(http: httpx.Client) -> None:
    events = parse_sse(stream(http, body("#say:")).text)
    order = names(events)
    assert order[0] == "message_start" and order[-2:] == ["message_delta", "message_stop"]
    assert text_of(events) == ""
    assert events[-2][1]["usage"]["output_tokens"] == 0


def test_stream_multibyte_characters_are_never_split(http: httpx.Client) -> None:
    text = "日本語 ✓ 🎉 ok"
    events = parse_sse(stream(http, body("#say:" + text)).text)
    deltas = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)


# ---------------------------------------------------------------- the stream equals the non-streaming response


@pytest.mark.parametrize(
    "payload",
    [
        body("#say:Hello, world!"),
        body("#say:Hello STOP world", stop_sequences=["STOP"]),
        body("#say:abcdefghij", max_tokens=4),
        body("#say:ok", system="sys"),
    ],
    ids=["plain", "stop-sequence", "max-tokens", "system"],
)
def test_sdk_stream_final_message_equals_non_streaming_response(
    client: anthropic.Anthropic, payload: dict[str, Any]
) -> None:
    params = {k: v for k, v in payload.items() if k != "stream"}
    created = client.messages.create(**params)
    with client.messages.stream(**params) as s:
        streamed_text = "".join(s.text_stream)
        final = s.get_final_message()
    assert MESSAGE_ID_RE.fullmatch(final.id)
    assert final.id != created.id
    assert final.model_dump(exclude={"id"}) == created.model_dump(exclude={"id"})
    assert streamed_text == "".join(b.text for b in created.content if b.type == "text")


def test_sdk_raw_stream_yields_typed_events(client: anthropic.Anthropic) -> None:
    raw = client.messages.create(
        model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "#say:raw"}], stream=True
    )
    types = [event.type for event in raw]
    assert types[0] == "message_start"
    assert types[-1] == "message_stop"
    assert types.count("content_block_delta") == 3
    assert "ping" not in types  # the SDK drops pings


@pytest.mark.parametrize("version", [V2023, V2026])
@pytest.mark.parametrize("auth", ["x-api-key", "bearer"])
def test_streaming_works_for_both_versions_and_auth_headers(http: httpx.Client, version: str, auth: str) -> None:
    headers = {"anthropic-version": version}
    headers |= {"x-api-key": API_KEY} if auth == "x-api-key" else {"authorization": f"Bearer {API_KEY}"}
    resp = http.post("/v1/messages", json=body("#say:both", stream=True), headers=headers)
    assert resp.status_code == 200, resp.text
    assert text_of(parse_sse(resp.text)) == "both"


# ---------------------------------------------------------------- errors after the stream started


def test_mid_stream_failure_is_an_error_event_without_message_stop(http: httpx.Client) -> None:
    resp = stream(http, body("#say:abcdefgh #fail-after:3"))
    events = parse_sse(resp.text)
    order = names(events)
    assert order == [*THREE_DELTAS, "error"]
    error = events[-1][1]
    assert error["error"]["type"] == "api_error"
    assert error["error"]["message"]
    assert error["request_id"] == resp.headers["request-id"]


def test_sdk_raises_on_a_mid_stream_error_event(client: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "#say:abcdef #fail-after:2"}]
        ) as s,
    ):
        for _ in s:
            pass
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_failure_within_first_event_wait_is_a_plain_http_error(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", json=body("#fail-after:0", stream=True), headers=HEADERS)
    assert resp.status_code == 500
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["error"]["type"] == "api_error"


def test_failure_after_headers_before_content_is_an_error_event(fast_ping_server: LiveServer) -> None:
    """``first_event_wait`` is 0.1 s there: a 500 ms prefill means the 200 is already sent."""
    with httpx.Client(base_url=fast_ping_server.base_url, timeout=30) as c:
        resp = c.post("/v1/messages", json=body("#prefill:500 #fail-after:0", stream=True), headers=HEADERS)
    assert resp.status_code == 200
    events = parse_sse(resp.text)
    order = names(events)
    assert order[0] == "message_start"
    assert order[-1] == "error"
    assert "message_stop" not in order and "message_delta" not in order
    assert events[-1][1]["error"]["type"] == "api_error"


def test_overload_is_a_plain_529_even_when_headers_go_out_early(fast_ping_server: LiveServer) -> None:
    """Overload is decided at admission, so it is never an in-stream event."""
    with httpx.Client(base_url=fast_ping_server.base_url, timeout=30) as c:
        resp = c.post("/v1/messages", json=body("#overload", stream=True), headers=HEADERS)
    assert resp.status_code == 529
    assert resp.json()["error"]["type"] == "overloaded_error"


# ---------------------------------------------------------------- pings


def test_pings_keep_the_connection_alive_during_a_long_prefill(fast_ping_server: LiveServer) -> None:
    with httpx.Client(base_url=fast_ping_server.base_url, timeout=30) as c:
        t0 = time.monotonic()
        resp = c.post("/v1/messages", json=body("#prefill:1200 #say:ok", stream=True), headers=HEADERS)
        elapsed = time.monotonic() - t0
    assert resp.status_code == 200
    events = parse_sse(resp.text)
    order = names(events)
    first_block = order.index("content_block_start")
    pings_before_content = order[:first_block].count("ping")
    assert elapsed >= 1.2
    assert pings_before_content >= 3, order
    assert all(d == {"type": "ping"} for n, d in events if n == "ping")
    assert text_of(events) == "ok"
    assert order[-1] == "message_stop"


def test_pings_between_slow_tokens(fast_ping_server: LiveServer) -> None:
    with httpx.Client(base_url=fast_ping_server.base_url, timeout=30) as c:
        resp = c.post("/v1/messages", json=body("#slow:500 #say:ab", stream=True), headers=HEADERS)
    order = names(parse_sse(resp.text))
    first, last = order.index("content_block_delta"), len(order) - 1 - order[::-1].index("content_block_delta")
    assert "ping" in order[first:last], order


def test_headers_are_sent_before_the_first_token_of_a_slow_prefill(fast_ping_server: LiveServer) -> None:
    with httpx.Client(base_url=fast_ping_server.base_url, timeout=30) as c:
        t0 = time.monotonic()
        with c.stream("POST", "/v1/messages", json=body("#prefill:1500 #say:ok", stream=True), headers=HEADERS) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            first_line = next(lines)
            t_first = time.monotonic() - t0
            rest = list(lines)
    assert first_line == "event: message_start"
    assert t_first < 1.0
    assert "event: message_stop" in rest


# ---------------------------------------------------------------- client disconnects


@pytest.fixture()
def private_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own, so that the engine's ``active`` counter is not shared."""
    yield from serving(fake_settings(tmp_path))


def test_client_disconnect_mid_stream_stops_generation(private_server: LiveServer) -> None:
    engine = private_server.engine
    assert engine.active == 0
    with httpx.Client(base_url=private_server.base_url, timeout=30) as c:
        payload = body("#forever #slow:20", max_tokens=100_000, stream=True)
        with c.stream("POST", "/v1/messages", json=payload, headers=HEADERS) as r:
            assert r.status_code == 200
            deltas = 0
            for line in r.iter_lines():
                if line == "event: content_block_delta":
                    deltas += 1
                    if deltas == 5:
                        assert engine.active == 1  # still generating, before we hang up
                        break
    assert wait_until(lambda: engine.active == 0, timeout=3.0), "generation kept running after the disconnect"
    with httpx.Client(base_url=private_server.base_url, timeout=10) as c:
        assert c.get("/health").status_code == 200
        resp = c.post("/v1/messages", json=body("#say:still alive"), headers=HEADERS)
    assert resp.json()["content"][0]["text"] == "still alive"


def test_sdk_stream_closed_early_stops_generation(private_server: LiveServer) -> None:
    engine = private_server.engine
    client = private_server.client()
    with client.messages.stream(
        model=MODEL, max_tokens=100_000, messages=[{"role": "user", "content": "#forever #slow:20"}]
    ) as s:
        for i, _ in enumerate(s.text_stream):
            if i == 3:
                assert engine.active == 1
                break
    assert wait_until(lambda: engine.active == 0, timeout=3.0)


def test_client_disconnect_of_a_non_streaming_request_stops_generation(private_server: LiveServer) -> None:
    """A client that times out on a non-streaming request must not leave the engine busy."""
    engine = private_server.engine
    with httpx.Client(base_url=private_server.base_url, timeout=0.5) as c, pytest.raises(httpx.ReadTimeout):
        c.post("/v1/messages", json=body("#forever #slow:20", max_tokens=400), headers=HEADERS)
    assert wait_until(lambda: engine.active == 0, timeout=2.0), "generation kept running after the disconnect"


def test_many_concurrent_streams_complete_independently(fake_server: LiveServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> str:
        with httpx.Client(base_url=fake_server.base_url, timeout=30) as c:
            resp = c.post("/v1/messages", json=body(f"#slow:5 #say:stream {i}", stream=True), headers=HEADERS)
            return text_of(parse_sse(resp.text))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert results == [f"stream {i}" for i in range(8)]
