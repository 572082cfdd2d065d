"""Hypothesis fuzz of what schemathesis does not draw: well-formed requests whose *text* is
hostile. Schemathesis generates structure (types, missing and extra fields) but only
UTF-8-encodable strings and rarely a request valid enough to reach the model; here every
request is valid in shape, and the text carries lone surrogate escapes, NULs, chat-template
special tokens, think and tool-call tags, CRLFs and astral characters, through the
prompt, the fake engine (``#say:`` echoes it back), stop sequences, SSE framing and
token counting, and through the legacy ``/v1/complete`` and the OpenAI-compatible
``/v1/chat/completions``. Properties: never a 5xx, every error in the endpoint's envelope
(Anthropic or OpenAI), every 200 a well-formed message or event stream.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import MODEL, assert_error, parse_sse

from .conftest import FuzzServer, record_latency, selected

DIRECTIVES = re.compile(r"#(fail-before|fail-after|overload|slow|prefill|forever|think|think-long)\b")
FRAGMENTS = [
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "\x00",
    "\ud800",
    "\udfff",
    "\U0001f600",
    "\r\n",
    "\\n",
    "{{ x }}",
    "{% if %}",
    "data: ",
    "event: ",
]
CHARS = st.characters(exclude_categories=())  # every code point, lone surrogates included
TEXT = st.lists(st.one_of(st.text(CHARS, max_size=12), st.sampled_from(FRAGMENTS)), max_size=6).map("".join)
EXAMPLES = 60
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def _post(live: FuzzServer, path: str, payload: dict[str, Any], fuzz_stats: Counter[str]) -> httpx.Response:
    raw = json.dumps(payload)  # ensure_ascii: a lone surrogate travels as its \\uXXXX escape
    resp = httpx.post(live.base_url + path, content=raw.encode(), headers=live.headers(), timeout=60)
    record_latency(fuzz_stats, "text", resp.elapsed.total_seconds())
    return resp


def _has_surrogate(*texts: str) -> bool:
    """Whether a lone surrogate reaches the server: the body travels as JSON with ``\\uXXXX``
    escapes, and a high surrogate followed by a low one (two lone ones joined by the strategy)
    decodes there as one astral character, which is valid text."""
    for text in texts:
        try:
            json.loads(json.dumps(text)).encode()
        except UnicodeEncodeError:
            return True
    return False


def _check_error(resp: httpx.Response) -> None:
    assert resp.status_code < 500, resp.text
    assert_error(resp, 400, "invalid_request_error")


@pytest.fixture(scope="module")
def seen() -> Counter[str]:
    return Counter()


@SETTINGS
@given(
    text=TEXT,
    echo=st.booleans(),
    stream=st.booleans(),
    stops=st.lists(TEXT, max_size=3),
    system=st.none() | TEXT,
    max_tokens=st.integers(1, 80),
)
def test_messages_survive_any_text(
    fuzz_server: FuzzServer,
    fuzz_stats: Counter[str],
    seen: Counter[str],
    text: str,
    echo: bool,
    stream: bool,
    stops: list[str],
    system: str | None,
    max_tokens: int,
) -> None:
    prompt = ("#say:" + text.replace("\n", " ")) if echo else text
    if DIRECTIVES.search(prompt):
        return
    payload: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
    }
    if stops:
        payload["stop_sequences"] = stops
    if system is not None:
        payload["system"] = system
    resp = _post(fuzz_server, "/v1/messages", payload, fuzz_stats)
    seen[f"messages {resp.status_code}"] += 1
    if _has_surrogate(prompt, *stops, system or ""):
        assert_error(resp, 400, "invalid_request_error", contains="surrogate")
        return
    if resp.status_code != 200:
        _check_error(resp)  # e.g. empty or whitespace-only text, empty stop sequence
        return
    if stream:
        events = parse_sse(resp.text)
        names = [name for name, _ in events if name != "ping"]
        assert names[0] == "message_start" and names[-1] == "message_stop", names
        text_out = "".join(
            d["delta"].get("text", "")
            for n, d in events
            if n == "content_block_delta" and d["delta"]["type"] == "text_delta"
        )
    else:
        message = resp.json()
        assert message["type"] == "message" and message["usage"]["output_tokens"] <= max_tokens, message
        text_out = "".join(b.get("text", "") for b in message["content"] if b["type"] == "text")
    if echo and not stops and max_tokens == 80 and "\\" not in text:
        assert text_out == text.replace("\n", " ")[: len(text_out)]


@SETTINGS
@given(text=TEXT, system=st.none() | TEXT, tool_description=st.none() | TEXT)
def test_count_tokens_survives_any_text(
    fuzz_server: FuzzServer,
    fuzz_stats: Counter[str],
    seen: Counter[str],
    text: str,
    system: str | None,
    tool_description: str | None,
) -> None:
    payload: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    if system is not None:
        payload["system"] = system
    if tool_description is not None:
        payload["tools"] = [{"name": "t", "description": tool_description, "input_schema": {"type": "object"}}]
    resp = _post(fuzz_server, "/v1/messages/count_tokens", payload, fuzz_stats)
    seen[f"count_tokens {resp.status_code}"] += 1
    if _has_surrogate(text, system or "", tool_description or ""):
        assert_error(resp, 400, "invalid_request_error", contains="surrogate")
    elif resp.status_code != 200:
        _check_error(resp)
    else:
        assert resp.json()["input_tokens"] > 0


@SETTINGS
@given(turns=st.lists(st.tuples(st.sampled_from(["Human", "Assistant", "System"]), TEXT), max_size=4), tail=TEXT)
# Random turns rarely make a well-formed prompt (it must open with Human and end with an
# Assistant turn), so one always runs: the 200 side of test_both_outcomes_were_reached.
@example(turns=[("Human", "Tell me about tides.")], tail="\n\nAssistant:")
def test_text_completions_survive_any_prompt(
    fuzz_server: FuzzServer, fuzz_stats: Counter[str], seen: Counter[str], turns: list[tuple[str, str]], tail: str
) -> None:
    """``POST /v1/complete``: the prompt is parsed into turns by its markers."""
    prompt = "".join(f"\n\n{role}: {text}" for role, text in turns) + tail
    if DIRECTIVES.search(prompt):
        return
    resp = _post(
        fuzz_server, "/v1/complete", {"model": MODEL, "prompt": prompt, "max_tokens_to_sample": 16}, fuzz_stats
    )
    seen[f"complete {resp.status_code}"] += 1
    if _has_surrogate(prompt):
        assert_error(resp, 400, "invalid_request_error", contains="surrogate")
    elif resp.status_code != 200:
        _check_error(resp)
    else:
        assert resp.json()["type"] == "completion", resp.text


@SETTINGS
@given(
    messages=st.lists(st.tuples(st.sampled_from(["system", "developer", "user", "assistant"]), TEXT), max_size=4),
    stream=st.booleans(),
)
def test_chat_completions_survive_any_text(
    fuzz_server: FuzzServer, fuzz_stats: Counter[str], seen: Counter[str], messages: list[tuple[str, str]], stream: bool
) -> None:
    """``POST /v1/chat/completions``: errors are OpenAI-shaped there, with the same statuses."""
    if any(DIRECTIVES.search(text) for _, text in messages):
        return
    payload = {"model": MODEL, "messages": [{"role": r, "content": c} for r, c in messages], "stream": stream}
    resp = _post(fuzz_server, "/v1/chat/completions", payload, fuzz_stats)
    seen[f"chat {resp.status_code}"] += 1
    assert resp.status_code < 500, resp.text
    if resp.status_code != 200:
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"], error
        if _has_surrogate(*(c for _, c in messages)):
            assert "surrogate" in error["message"]


def test_both_outcomes_were_reached(request: pytest.FixtureRequest, seen: Counter[str]) -> None:
    """The fuzz can fail: valid text got 200s and invalid text 400s on every endpoint."""
    fuzz = (
        "test_messages_survive_any_text",
        "test_count_tokens_survives_any_text",
        "test_text_completions_survive_any_prompt",
        "test_chat_completions_survive_any_text",
    )
    if not all(selected(request, name) for name in fuzz):
        pytest.skip("the fuzz tests were deselected")
    for endpoint in ("messages", "count_tokens", "complete", "chat"):
        assert seen[f"{endpoint} 200"] and seen[f"{endpoint} 400"], seen
