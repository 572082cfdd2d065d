"""``POST /v1/complete`` through the official legacy SDK (``client.completions.create``, plain
and streaming) and raw HTTP, on the fake engine over a real socket.

The fake engine's reply is scripted by the last human turn (``#say:``), or echoes it
(``You said: <turn>``), which shows how the prompt was cut into turns.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import (
    MODEL,
    REQUEST_ID_RE,
    V2023,
    V2026,
    LiveServer,
    assert_error,
    fake_settings,
    parse_sse,
    running,
    wait_until,
)
from epistula.config import RateLimitConfig

from .conftest import LegacySDK

HUMAN, AI = "\n\nHuman:", "\n\nAssistant:"
COMPLETION_ID = re.compile(r"compl_[A-Za-z0-9]{10,}")
START_ERROR = 'prompt must start with "\\n\\nHuman:" turn after an optional system prompt'
END_ERROR = 'prompt must end with "\\n\\nAssistant:" turn'


def prompt(text: str) -> str:
    return f"{HUMAN} {text}{AI}"


def create(legacy: LegacySDK, text: str, **extra: Any) -> dict[str, Any]:
    extra.setdefault("max_tokens_to_sample", 64)
    result = legacy.create(model=MODEL, prompt=prompt(text), **extra)
    assert "result" in result, result
    completion: dict[str, Any] = result["result"]
    return completion


def stream(legacy: LegacySDK, text: str, **extra: Any) -> list[dict[str, Any]]:
    extra.setdefault("max_tokens_to_sample", 64)
    result = legacy.stream(model=MODEL, prompt=prompt(text), **extra)
    assert "result" in result, result
    events: list[dict[str, Any]] = result["result"]
    return events


def post(live: LiveServer, payload: dict[str, Any], *, version: str | None = V2023) -> httpx.Response:
    return httpx.post(live.base_url + "/v1/complete", json=payload, headers=live.headers(version), timeout=60)


def test_create_returns_a_completion(legacy: LegacySDK) -> None:
    completion = create(legacy, "#say:Hello there")
    assert completion["type"] == "completion"
    assert COMPLETION_ID.fullmatch(completion["id"]), completion
    assert completion["model"] == MODEL
    # The model ended its turn: in this format that is the implicit "\n\nHuman:" stop.
    assert completion["completion"] == " Hello there"
    assert completion["stop_reason"] == "stop_sequence"


def test_the_raw_response_names_the_stop(fake_server: LiveServer) -> None:
    resp = post(fake_server, {"model": MODEL, "prompt": prompt("#say:Hi"), "max_tokens_to_sample": 20})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert REQUEST_ID_RE.fullmatch(resp.headers["request-id"])
    payload = resp.json()
    assert set(payload) == {"type", "id", "completion", "stop_reason", "model", "stop"}
    assert payload["stop"] == HUMAN


def test_streaming_yields_increments_then_the_stop(legacy: LegacySDK) -> None:
    events = stream(legacy, "#say:Hello there")
    assert len(events) > 2
    assert all(e["type"] == "completion" for e in events)
    assert len({e["id"] for e in events}) == 1 and COMPLETION_ID.fullmatch(events[0]["id"])
    assert "".join(e["completion"] for e in events) == " Hello there"
    assert [e["stop_reason"] for e in events[:-1]] == [None] * (len(events) - 1)
    assert events[-1]["stop_reason"] == "stop_sequence"
    assert events[-1]["completion"] == ""
    assert all(e["model"] == MODEL for e in events)


def test_stream_wire_format(fake_server: LiveServer) -> None:
    payload = {"model": MODEL, "prompt": prompt("#say:abc"), "max_tokens_to_sample": 20, "stream": True}
    with httpx.stream("POST", fake_server.base_url + "/v1/complete", json=payload, headers=fake_server.headers()) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        events = parse_sse(r.read().decode())  # every frame: one event line, one data line, type == name
    names = [name for name, _ in events]
    assert set(names) == {"completion", "ping"}
    assert names[0] == "completion" and names[1] == "ping"  # the real API pings after the first chunk
    last = events[-1][1]
    assert last["stop_reason"] == "stop_sequence" and last["stop"] == HUMAN


def test_max_tokens_to_sample(legacy: LegacySDK) -> None:
    completion = create(legacy, "#say:abcdefghij", max_tokens_to_sample=4)
    assert completion["completion"] == " abcd"  # the fake engine's tokens are bytes
    assert completion["stop_reason"] == "max_tokens"
    events = stream(legacy, "#say:abcdefghij", max_tokens_to_sample=4)
    assert "".join(e["completion"] for e in events) == " abcd"
    assert events[-1]["stop_reason"] == "max_tokens"


def test_stop_sequences(legacy: LegacySDK, fake_server: LiveServer) -> None:
    completion = create(legacy, "#say:one two STOP three", stop_sequences=["STOP", "never"])
    assert completion["completion"] == " one two "
    assert completion["stop_reason"] == "stop_sequence"
    events = stream(legacy, "#say:one two STOP three", stop_sequences=["STOP"])
    assert "".join(e["completion"] for e in events) == " one two "
    raw = post(
        fake_server,
        {"model": MODEL, "prompt": prompt("#say:one STOP"), "max_tokens_to_sample": 9, "stop_sequences": ["STOP"]},
    )
    assert raw.json()["stop"] == "STOP"


def test_the_model_writing_the_next_human_turn_stops_the_completion(legacy: LegacySDK) -> None:
    completion = create(legacy, "#say:Sure.\\n\\nHuman: and now I talk for the user")
    assert completion["completion"] == " Sure."
    assert completion["stop_reason"] == "stop_sequence"


def test_turns_system_prompt_and_sanitising(legacy: LegacySDK) -> None:
    """The last human turn is the last user message (stripped); earlier turns and a
    system text before the first turn are context; consecutive human turns merge."""
    full = f"You are terse.{HUMAN} first question{AI} first answer{HUMAN}  what is this?  {AI}"
    assert legacy.create(model=MODEL, prompt=full, max_tokens_to_sample=64)["result"]["completion"] == (
        " You said: what is this?"
    )
    merged = f"{HUMAN} one{HUMAN} two{AI}"
    assert legacy.create(model=MODEL, prompt=merged, max_tokens_to_sample=64)["result"]["completion"] == (
        " You said: one\n\ntwo"
    )
    # Accepted after light sanitising, as documented: no leading "\n\n", a trailing space.
    for sanitised in (f"Human: #say:ok{AI}", f"{HUMAN} #say:ok{AI} "):
        assert legacy.create(model=MODEL, prompt=sanitised, max_tokens_to_sample=9)["result"]["completion"] == " ok"


def test_assistant_prefill_is_continued_without_a_leading_space(legacy: LegacySDK) -> None:
    completion = legacy.create(model=MODEL, prompt=f"{HUMAN} #say:, Paris.{AI} The capital is", max_tokens_to_sample=9)
    assert completion["result"]["completion"] == ", Paris."


@pytest.mark.parametrize(
    ("bad_prompt", "message"),
    [
        ("Hello, world", START_ERROR),
        (f"Hello, world{AI}", START_ERROR),
        (f"{HUMAN} Hello, Claude", END_ERROR),
        (f"{AI} Hello, world{HUMAN} Hello, Claude{AI}", START_ERROR),
        (f"{HUMAN} Hello, Claude{AI} Hello, world{HUMAN} How many toes do dogs have?", END_ERROR),
        (f"{HUMAN} Hello, Claude \nAssistant:", END_ERROR),
    ],
    ids=["no-turns", "no-human", "no-assistant", "human-not-first", "assistant-not-last", "one-newline"],
)
def test_documented_invalid_prompts(legacy: LegacySDK, bad_prompt: str, message: str) -> None:
    result = legacy.create(model=MODEL, prompt=bad_prompt, max_tokens_to_sample=10)
    error = result["error"]
    assert error["class"] == "BadRequestError" and error["status"] == 400
    assert error["body"]["type"] == "error"
    assert error["body"]["error"] == {"type": "invalid_request_error", "message": message}


def test_parameter_validation(fake_server: LiveServer) -> None:
    ok = {"model": MODEL, "prompt": prompt("hi"), "max_tokens_to_sample": 10}
    assert post(fake_server, ok).status_code == 200
    missing = {k: v for k, v in ok.items() if k != "max_tokens_to_sample"}
    assert_error(post(fake_server, missing), 400, "invalid_request_error", "max_tokens_to_sample: Field required")
    assert_error(
        post(fake_server, {**ok, "max_tokens_to_sample": 0}),
        400,
        "invalid_request_error",
        contains="max_tokens_to_sample: Input should be greater than or equal to 1",
    )
    assert_error(
        post(fake_server, {**ok, "max_tokens_to_sample": 10**9}),
        400,
        "invalid_request_error",
        contains="max_tokens_to_sample: 1000000000 >",
    )
    assert_error(
        post(fake_server, {**ok, "temperature": 1.5}),
        400,
        "invalid_request_error",
        contains="temperature: Input should be less than or equal to 1",
    )
    assert_error(post(fake_server, {**ok, "top_k": -1}), 400, "invalid_request_error", contains="top_k")
    assert_error(
        post(fake_server, {**ok, "stop_sequences": "STOP"}), 400, "invalid_request_error", contains="stop_sequences"
    )
    assert_error(
        post(fake_server, {**ok, "max_tokens": 10}),
        400,
        "invalid_request_error",
        "max_tokens: Extra inputs are not permitted",
    )
    assert_error(post(fake_server, {**ok, "model": "claude-2.1"}), 404, "not_found_error", "model: claude-2.1")
    assert_error(
        post(fake_server, ok, version=None), 400, "invalid_request_error", "anthropic-version: header is required"
    )
    assert_error(post(fake_server, {**ok, "prompt": f"{HUMAN}{AI}"}), 400, "invalid_request_error", contains="Human:")
    # Sampling parameters and metadata are accepted (also under 2026-10-21: this is not the Messages API).
    sampled = {**ok, "temperature": 0.0, "top_p": 0.9, "top_k": 5, "metadata": {"user_id": "u-1"}}
    assert post(fake_server, sampled, version=V2026).status_code == 200


def test_sdk_errors(legacy: LegacySDK, fake_server: LiveServer) -> None:
    unknown, overloaded = legacy.run(
        {"method": "create", "kwargs": {"model": "claude-2.1", "prompt": prompt("hi"), "max_tokens_to_sample": 5}},
        {"method": "create", "kwargs": {"model": MODEL, "prompt": prompt("#overload"), "max_tokens_to_sample": 5}},
    )
    assert unknown["error"]["class"] == "NotFoundError"
    assert overloaded["error"]["status"] == 529
    assert overloaded["error"]["body"]["error"]["type"] == "overloaded_error"
    resp = httpx.post(
        fake_server.base_url + "/v1/complete",
        headers={"x-api-key": "sk-wrong", "anthropic-version": V2023},
        json={"model": MODEL, "prompt": prompt("hi"), "max_tokens_to_sample": 5},
    )
    assert_error(resp, 401, "authentication_error")


def test_failure_after_the_stream_started_is_an_error_event(legacy: LegacySDK, fake_server: LiveServer) -> None:
    text = "#fail-after:3\n#say:Hello world"
    result = legacy.stream(model=MODEL, prompt=prompt(text), max_tokens_to_sample=50)
    error = result["error"]
    assert error["body"]["error"]["type"] == "api_error"
    assert "".join(e["completion"] for e in error["partial"]) == " Hel"
    payload = {"model": MODEL, "prompt": prompt(text), "max_tokens_to_sample": 50, "stream": True}
    with httpx.stream("POST", fake_server.base_url + "/v1/complete", json=payload, headers=fake_server.headers()) as r:
        events = parse_sse(r.read().decode())
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "api_error"
    assert all(e[1]["stop_reason"] is None for e in events if e[0] == "completion")


def test_the_gate_applies_rate_limits_shared_with_messages(tmp_path: Path) -> None:
    """Completions pass the same gate as /v1/messages: one request bucket for both."""
    with running(fake_settings(tmp_path, rate_limits=[RateLimitConfig(requests_per_minute=2)])) as live:
        message = httpx.post(
            live.base_url + "/v1/messages",
            headers=live.headers(),
            json={"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert message.headers["anthropic-ratelimit-requests-remaining"] == "1"
        ok = {"model": MODEL, "prompt": prompt("hi"), "max_tokens_to_sample": 5}
        first = post(live, ok)
        assert first.status_code == 200
        assert first.headers["anthropic-ratelimit-requests-remaining"] == "0"
        refused = post(live, {**ok, "stream": True})
        assert_error(refused, 429, "rate_limit_error")
        assert int(refused.headers["retry-after"]) >= 1


def test_a_client_hanging_up_mid_stream_stops_generation(tmp_path: Path) -> None:
    with running(fake_settings(tmp_path)) as live:
        engine = live.engine
        payload = {
            "model": MODEL,
            "prompt": prompt("#forever #slow:20"),
            "max_tokens_to_sample": 100_000,
            "stream": True,
        }
        with httpx.stream("POST", live.base_url + "/v1/complete", json=payload, headers=live.headers()) as r:
            assert r.status_code == 200
            seen = 0
            for line in r.iter_lines():
                seen += line == "event: completion"
                if seen == 5:
                    assert engine.active == 1  # still generating, before we hang up
                    break
        assert wait_until(lambda: engine.active == 0, timeout=5), "generation kept running after the client went away"
