"""The real embedded model (llama.cpp, SmolLM2-135M) through the official SDK over a socket.

The model is tiny, so nothing here judges the quality of its answers. Tests assert
protocol facts, and use greedy decoding (``temperature: 0`` under 2023-06-01) to turn
behaviour into checkable equalities: the same request gives the same reply, a
``max_tokens`` cut is a prefix of the full reply, a stop sequence cuts the full reply at
its first occurrence, a prefill is continued rather than repeated, and a request run
among 8 concurrent ones gives the reply it gives alone.
"""

from __future__ import annotations

import re
from typing import Any

import anthropic
import httpx
import pytest

from conftest import (
    API_KEY,
    MESSAGE_ID_RE,
    REQUEST_ID_RE,
    V2023,
    V2026,
    LiveServer,
    assert_error,
    parse_sse,
)

pytestmark = pytest.mark.model

MODEL = "claude-haiku-4-5"
COUNTING = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def sdk(model_server: LiveServer) -> anthropic.Anthropic:
    return model_server.client(version=V2023, timeout=120.0)


@pytest.fixture(scope="module")
def sdk_2026(model_server: LiveServer) -> anthropic.Anthropic:
    return model_server.client(timeout=120.0)


def greedy(
    client: anthropic.Anthropic, messages: list[Any], max_tokens: int = 32, **kw: Any
) -> anthropic.types.Message:
    return client.messages.create(model=MODEL, max_tokens=max_tokens, messages=messages, extra_body=GREEDY, **kw)


def text(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


@pytest.fixture(scope="module")
def reference(sdk: anthropic.Anthropic) -> anthropic.types.Message:
    """The greedy reply to the counting prompt (32 tokens at most), computed the way the tests
    that compare with it compute theirs: after the prompt was left in a slot (a reused prefix
    may decode differently from a cold prefill; docs/performance.md)."""
    greedy(sdk, COUNTING)
    message = greedy(sdk, COUNTING)
    assert len(text(message)) >= 8, f"reference reply too short to derive tests from: {text(message)!r}"
    return message


# ---------------------------------------------------------------- create


def test_create_returns_a_well_formed_message(reference: anthropic.types.Message) -> None:
    assert MESSAGE_ID_RE.fullmatch(reference.id)
    assert reference.type == "message" and reference.role == "assistant"
    assert reference.model == MODEL
    assert [b.type for b in reference.content] == ["text"]
    assert reference.stop_reason in ("end_turn", "max_tokens")
    assert reference.stop_sequence is None
    assert 0 < reference.usage.output_tokens <= 32
    if reference.stop_reason == "max_tokens":
        assert reference.usage.output_tokens == 32
    assert reference.usage.input_tokens > 0


def test_greedy_decoding_is_deterministic(sdk: anthropic.Anthropic, reference: anthropic.types.Message) -> None:
    again = greedy(sdk, COUNTING)
    assert again.id != reference.id
    assert again.content == reference.content
    assert again.usage == reference.usage
    assert again.stop_reason == reference.stop_reason


def test_max_tokens_cut_is_a_prefix_of_the_full_reply(
    sdk: anthropic.Anthropic, reference: anthropic.types.Message
) -> None:
    short = greedy(sdk, COUNTING, max_tokens=5)
    assert short.stop_reason == "max_tokens"
    assert short.usage.output_tokens == 5
    assert text(reference).startswith(text(short))
    assert len(text(short)) < len(text(reference))


def test_stop_sequence_cuts_at_its_first_occurrence(
    sdk: anthropic.Anthropic, reference: anthropic.types.Message
) -> None:
    full = text(reference)
    words = re.findall(r"\S+", full)
    assert len(words) >= 3, full
    stop = words[2]
    cut = greedy(sdk, COUNTING, stop_sequences=[stop])
    assert cut.stop_reason == "stop_sequence"
    assert cut.stop_sequence == stop
    assert text(cut) == full[: full.index(stop)]
    assert stop not in text(cut)
    assert cut.usage.output_tokens < reference.usage.output_tokens


def test_newline_or_space_stop_sequence(sdk: anthropic.Anthropic) -> None:
    """Whatever the model writes, the reply ends before the first space or newline."""
    message = greedy(
        sdk, [{"role": "user", "content": "Write two short lines about the sea."}], stop_sequences=["\n", " "]
    )
    assert " " not in text(message) and "\n" not in text(message)
    if message.stop_reason == "stop_sequence":
        assert message.stop_sequence in ("\n", " ")
    else:
        assert message.stop_sequence is None


def test_prefill_is_continued_not_repeated(sdk: anthropic.Anthropic, reference: anthropic.types.Message) -> None:
    full = text(reference)
    match = re.match(r"\S+(\s+\S+){1}", full)  # the first two words, no trailing whitespace
    assert match, full
    prefill = match.group(0)
    continued = greedy(sdk, [*COUNTING, {"role": "assistant", "content": prefill}], max_tokens=16)
    reply = text(continued)
    assert not reply.startswith(prefill)
    assert (prefill + reply)[: len(full)] == full[: len(prefill + reply)]


def test_multi_turn_conversation(sdk: anthropic.Anthropic) -> None:
    first = greedy(sdk, [{"role": "user", "content": "My name is Ada."}], max_tokens=12)
    history = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": "What is my name?"},
    ]
    second = greedy(sdk, history, max_tokens=12)
    assert second.content and second.content[0].type == "text"
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens
    counted = sdk.messages.count_tokens(model=MODEL, messages=history)  # type: ignore[arg-type]
    assert counted.input_tokens == second.usage.input_tokens


def test_system_prompt_is_part_of_the_prompt(sdk: anthropic.Anthropic) -> None:
    """(Without a system prompt SmolLM2's template adds its own default one, so compare two.)"""
    short_system, long_system = "Be brief.", "Be brief. You are a pirate and answer like one, matey."
    short = greedy(sdk, COUNTING, max_tokens=2, system=short_system)
    long = greedy(sdk, COUNTING, max_tokens=2, system=long_system)
    assert long.usage.input_tokens > short.usage.input_tokens
    for system, message in ((short_system, short), (long_system, long)):
        counted = sdk.messages.count_tokens(model=MODEL, messages=COUNTING, system=system)  # type: ignore[arg-type]
        assert counted.input_tokens == message.usage.input_tokens


@pytest.mark.parametrize(
    "messages",
    [
        COUNTING,
        [*COUNTING, {"role": "assistant", "content": "1, 2"}],
        [{"role": "user", "content": "héllo wörld ✓ 日本語 🎉"}],
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
    ],
    ids=["plain", "prefill", "unicode", "multi-turn"],
)
def test_count_tokens_equals_billed_input_tokens(sdk: anthropic.Anthropic, messages: list[Any]) -> None:
    counted = sdk.messages.count_tokens(model=MODEL, messages=messages)
    billed = greedy(sdk, messages, max_tokens=1)
    assert counted.input_tokens == billed.usage.input_tokens


# ---------------------------------------------------------------- streaming


def test_stream_final_message_equals_create(sdk: anthropic.Anthropic) -> None:
    """Streaming folds to exactly the JSON reply. Both requests run back to back so they see
    the same slot state: greedy decoding after a prefix reuse is not bit-identical to a cold
    prefill in llama.cpp (a near-tie can flip), which is a different property."""
    greedy(sdk, COUNTING)  # leaves the prompt in a slot, as for the two compared requests
    reference = greedy(sdk, COUNTING)
    with sdk.messages.stream(model=MODEL, max_tokens=32, messages=COUNTING, extra_body=GREEDY) as s:  # type: ignore[arg-type]
        streamed = "".join(s.text_stream)
        final = s.get_final_message()
    assert MESSAGE_ID_RE.fullmatch(final.id)
    assert streamed == text(reference)
    assert final.model_dump(exclude={"id"}) == reference.model_dump(exclude={"id"})


def test_raw_stream_event_order(model_server: LiveServer) -> None:
    resp = httpx.post(
        model_server.base_url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 8, "messages": COUNTING, "stream": True, "temperature": 0},
        headers=model_server.headers(),
        timeout=120,
    )
    assert resp.status_code == 200, resp.text
    assert REQUEST_ID_RE.fullmatch(resp.headers["request-id"])
    names = [n for n, _ in parse_sse(resp.text) if n != "ping"]
    assert names[0] == "message_start"
    assert names[1] == "content_block_start"
    assert set(names[2:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    events = parse_sse(resp.text)
    assert events[2][0] == "ping"  # right after the first content_block_start
    delta = next(d for n, d in events if n == "message_delta")
    assert delta["usage"]["output_tokens"] == 8
    assert delta["delta"]["stop_reason"] in ("max_tokens", "end_turn")


# Concurrency through the server: tests/model/test_concurrency_server.py (a fresh server,
# so no slot holds KV state computed in another batch composition).


# ---------------------------------------------------------------- models, versions, auth


def test_models_list_and_get(sdk: anthropic.Anthropic, model_server: LiveServer) -> None:
    ids = [m.id for m in sdk.models.list(limit=1000)]
    assert model_server.model_id in ids
    assert MODEL in ids
    info = sdk.models.retrieve(model_server.model_id)
    assert info.id == model_server.model_id
    assert info.max_input_tokens == model_server.engine.facts.context_window
    assert sdk.models.retrieve(MODEL).id == MODEL


def test_version_2026_with_bearer_auth(sdk_2026: anthropic.Anthropic) -> None:
    raw = sdk_2026.messages.with_raw_response.create(model=MODEL, max_tokens=4, messages=COUNTING)
    assert raw.http_request.headers["anthropic-version"] == V2026
    assert raw.http_request.headers["authorization"] == f"Bearer {API_KEY}"
    message = raw.parse()
    assert 0 < message.usage.output_tokens <= 4


def test_version_2026_rejects_temperature(sdk_2026: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk_2026.messages.create(model=MODEL, max_tokens=4, messages=COUNTING, extra_body=GREEDY)  # type: ignore[arg-type]
    assert info.value.body["error"]["message"] == "temperature: Extra inputs are not permitted"  # type: ignore[index]


@pytest.mark.parametrize("auth", ["x-api-key", "bearer"])
def test_both_auth_headers(model_server: LiveServer, auth: str) -> None:
    headers = {"anthropic-version": V2023}
    headers |= {"x-api-key": API_KEY} if auth == "x-api-key" else {"authorization": f"Bearer {API_KEY}"}
    ok = httpx.post(
        model_server.base_url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 2, "messages": COUNTING},
        headers=headers,
        timeout=120,
    )
    assert ok.status_code == 200, ok.text
    bad = httpx.post(
        model_server.base_url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 2, "messages": COUNTING},
        headers={**headers, **({"x-api-key": "nope"} if auth == "x-api-key" else {"authorization": "Bearer nope"})},
        timeout=120,
    )
    assert_error(bad, 401, "authentication_error")


def test_unknown_model_is_404(sdk: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.create(model="claude-nope", max_tokens=2, messages=COUNTING)  # type: ignore[arg-type]


def test_prompt_over_the_context_window_is_400(sdk: anthropic.Anthropic) -> None:
    long = "word " * 20_000
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.messages.create(model=MODEL, max_tokens=2, messages=[{"role": "user", "content": long}])
    assert "prompt is too long" in info.value.body["error"]["message"]  # type: ignore[index]
