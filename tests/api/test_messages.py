"""``POST /v1/messages`` (non-streaming) and ``count_tokens`` semantics on the fake engine.

The fake engine tokenizes one token per UTF-8 byte plus one per ChatML special token,
so prompt sizes are re-computed here independently (``chatml`` + ``fake_tokens``)."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from conftest import (
    API_KEY,
    MESSAGE_ID_RE,
    MODEL,
    V2023,
    LiveServer,
    assert_error,
    assistant,
    body,
    chatml,
    fake_tokens,
    user,
)

ALIASES = ["claude-opus-4-6", "claude-sonnet-4-6", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-5-5"]
MESSAGE_KEYS = {
    "id",
    "type",
    "role",
    "model",
    "content",
    "stop_reason",
    "stop_sequence",
    "stop_details",
    "container",
    "usage",
}


def post(http: httpx.Client, payload: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
    return http.post(path, json=payload, headers={"x-api-key": API_KEY, "anthropic-version": V2023})


def count(http: httpx.Client, payload: dict[str, Any]) -> int:
    keep = {k: v for k, v in payload.items() if k not in ("max_tokens", "stream", "stop_sequences", "metadata")}
    resp = post(http, keep, "/v1/messages/count_tokens")
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"input_tokens"}
    return int(resp.json()["input_tokens"])


# ---------------------------------------------------------------- the Message object


def test_message_object_has_every_key_and_real_id_prefix(http: httpx.Client) -> None:
    resp = post(http, body("#say:Hello"))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    message = resp.json()
    assert set(message) == MESSAGE_KEYS
    assert MESSAGE_ID_RE.fullmatch(message["id"])
    assert message["type"] == "message"
    assert message["role"] == "assistant"
    assert message["content"] == [{"type": "text", "text": "Hello", "citations": None}]
    assert message["stop_reason"] == "end_turn"
    assert message["stop_sequence"] is None
    usage = message["usage"]
    assert usage["output_tokens"] == len(b"Hello")
    assert usage["cache_creation_input_tokens"] == 0
    assert usage["cache_read_input_tokens"] == 0
    assert usage["service_tier"] == "standard"


def test_message_ids_are_unique(http: httpx.Client) -> None:
    ids = {post(http, body("#say:x")).json()["id"] for _ in range(10)}
    assert len(ids) == 10


def test_sdk_create_returns_a_typed_message(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=32, messages=[{"role": "user", "content": "#say:typed"}])
    assert isinstance(message, anthropic.types.Message)
    assert message.content[0].type == "text"
    assert message.content[0].text == "typed"
    assert message.stop_reason == "end_turn"
    assert message.model == MODEL


def test_default_reply_echoes_the_user_text(http: httpx.Client) -> None:
    message = post(http, body("ping pong")).json()
    assert message["content"][0]["text"] == "You said: ping pong"


def test_multibyte_text_is_decoded_and_counted_in_bytes(http: httpx.Client) -> None:
    text = "héllo wörld ✓ 🎉"
    message = post(http, body("#say:" + text)).json()
    assert message["content"][0]["text"] == text
    assert message["usage"]["output_tokens"] == len(text.encode())


# ---------------------------------------------------------------- model ids


@pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
@pytest.mark.parametrize("alias", ALIASES)
def test_model_aliases_answer_and_echo_the_requested_id(client: anthropic.Anthropic, alias: str) -> None:
    message = client.messages.create(model=alias, max_tokens=16, messages=[{"role": "user", "content": "#say:hi"}])
    assert message.model == alias
    assert message.content[0].text == "hi"  # type: ignore[union-attr]


def test_served_model_id_answers_too(fake_server: LiveServer, http: httpx.Client) -> None:
    message = post(http, body("#say:direct", model=fake_server.model_id)).json()
    assert message["model"] == fake_server.model_id
    assert message["content"][0]["text"] == "direct"


@pytest.mark.parametrize("model", ["claude-nope-9", "gpt-4o", "claude-haiku-4-5-99999999"])
def test_unknown_model_is_404_naming_the_model(http: httpx.Client, model: str) -> None:
    resp = post(http, body(model=model))
    assert_error(resp, 404, "not_found_error", f"model: {model}")


# ---------------------------------------------------------------- prompts: system, multi-turn, prefill


def test_input_tokens_is_the_rendered_prompt_size(http: httpx.Client) -> None:
    message = post(http, body("#say:ok")).json()
    assert message["usage"]["input_tokens"] == fake_tokens(chatml([("user", "#say:ok")]))


def test_system_prompt_is_rendered_first(http: httpx.Client) -> None:
    payload = body("#say:ok", system="You are terse.")
    expected = fake_tokens(chatml([("system", "You are terse."), ("user", "#say:ok")]))
    assert post(http, payload).json()["usage"]["input_tokens"] == expected


def test_system_text_blocks_are_joined(http: httpx.Client) -> None:
    payload = body("#say:ok", system=[{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}])
    with_string = body("#say:ok", system="One.\n\nTwo.")
    assert count(http, payload) == count(http, with_string)
    assert count(http, payload) > count(http, body("#say:ok"))


def test_multi_turn_conversation_renders_every_turn(http: httpx.Client) -> None:
    turns = [user("What is 2+2?"), assistant("4"), user("#say:and 3+3 is 6")]
    message = post(http, {"model": MODEL, "max_tokens": 32, "messages": turns}).json()
    assert message["content"][0]["text"] == "and 3+3 is 6"
    expected = chatml([("user", "What is 2+2?"), ("assistant", "4"), ("user", "#say:and 3+3 is 6")])
    assert message["usage"]["input_tokens"] == fake_tokens(expected)


def test_string_content_equals_a_single_text_block(http: httpx.Client) -> None:
    as_string = body("#say:same")
    as_blocks = {**as_string, "messages": [user([{"type": "text", "text": "#say:same"}])]}
    a, b = post(http, as_string).json(), post(http, as_blocks).json()
    assert a["content"] == b["content"]
    assert a["usage"]["input_tokens"] == b["usage"]["input_tokens"]


def test_prefill_is_appended_to_the_prompt_and_not_repeated(http: httpx.Client) -> None:
    payload = {"model": MODEL, "max_tokens": 32, "messages": [user("#say: world"), assistant("Hello")]}
    message = post(http, payload).json()
    # The fake engine's reply is exactly the #say text: the server must not prepend the prefill.
    assert message["content"][0]["text"] == " world"
    assert message["usage"]["input_tokens"] == fake_tokens(chatml([("user", "#say: world")], prefill="Hello"))


def test_prefill_with_text_blocks(http: httpx.Client) -> None:
    payload = {
        "model": MODEL,
        "max_tokens": 32,
        "messages": [user("#say:!"), assistant([{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}])],
    }
    message = post(http, payload).json()
    assert message["content"][0]["text"] == "!"
    assert message["usage"]["input_tokens"] > fake_tokens(chatml([("user", "#say:!")]))


# ---------------------------------------------------------------- stop sequences and max_tokens


def test_stop_sequence_stops_and_is_not_in_the_output(client_2023: anthropic.Anthropic) -> None:
    message = client_2023.messages.create(
        model=MODEL,
        max_tokens=64,
        stop_sequences=["STOP"],
        messages=[{"role": "user", "content": "#say:Hello STOP world"}],
    )
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "STOP"
    assert message.content[0].text == "Hello "  # type: ignore[union-attr]
    assert "STOP" not in message.content[0].text  # type: ignore[union-attr]


def test_earliest_of_several_stop_sequences_wins(http: httpx.Client) -> None:
    message = post(http, body("#say:one two three", stop_sequences=["three", "two"])).json()
    assert message["stop_sequence"] == "two"
    assert message["content"][0]["text"] == "one "


def test_stop_sequence_at_the_very_start_gives_empty_content(http: httpx.Client) -> None:
    message = post(http, body("#say:STOP now", stop_sequences=["STOP"])).json()
    assert message["stop_reason"] == "stop_sequence"
    assert "".join(b["text"] for b in message["content"]) == ""


def test_stop_sequence_that_never_appears_ends_normally(http: httpx.Client) -> None:
    message = post(http, body("#say:Hello world", stop_sequences=["ZZZ", "Hello!"])).json()
    assert message["stop_reason"] == "end_turn"
    assert message["stop_sequence"] is None
    assert message["content"][0]["text"] == "Hello world"


def test_partial_stop_sequence_at_the_end_is_released(http: httpx.Client) -> None:
    """Text held back because it might start a stop sequence is emitted when the turn ends."""
    message = post(http, body("#say:the end is ne", stop_sequences=["near"])).json()
    assert message["stop_reason"] == "end_turn"
    assert message["content"][0]["text"] == "the end is ne"


def test_multibyte_stop_sequence(http: httpx.Client) -> None:
    message = post(http, body("#say:café→bar", stop_sequences=["→"])).json()
    assert message["stop_sequence"] == "→"
    assert message["content"][0]["text"] == "café"


def test_newline_stop_sequence(http: httpx.Client) -> None:
    message = post(http, body("#say:line one\\nline two", stop_sequences=["\n"])).json()
    assert message["stop_reason"] == "stop_sequence"
    assert message["stop_sequence"] == "\n"
    assert message["content"][0]["text"] == "line one"


def test_max_tokens_truncates_and_reports_max_tokens(client_2023: anthropic.Anthropic) -> None:
    message = client_2023.messages.create(
        model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "#say:abcdefghijklmnop"}]
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 5
    assert message.content[0].text == "abcde"  # type: ignore[union-attr]


def test_reply_exactly_max_tokens_long_ends_by_max_tokens_or_end_turn(http: httpx.Client) -> None:
    message = post(http, body("#say:abc", max_tokens=3)).json()
    assert message["content"][0]["text"] == "abc"
    assert message["usage"]["output_tokens"] == 3
    assert message["stop_reason"] in ("max_tokens", "end_turn")


def test_max_tokens_one(http: httpx.Client) -> None:
    message = post(http, body("#say:xyz", max_tokens=1)).json()
    assert message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 1
    assert message["content"][0]["text"] == "x"


def test_max_tokens_zero_generates_nothing(http: httpx.Client) -> None:
    resp = post(http, body("#say:xyz", max_tokens=0))
    assert resp.status_code == 200, resp.text
    message = resp.json()
    assert message["content"] == []
    assert message["stop_reason"] == "max_tokens"
    assert message["usage"]["input_tokens"] == fake_tokens(chatml([("user", "#say:xyz")]))


def test_context_window_exhaustion_is_model_context_window_exceeded(http: httpx.Client) -> None:
    """A reply that runs into the end of the 8192-token window stops with that reason."""
    prompt = "#forever " + "x" * 8000
    message = post(http, body(prompt, max_tokens=10_000)).json()
    assert message["stop_reason"] == "model_context_window_exceeded"
    assert message["usage"]["input_tokens"] + message["usage"]["output_tokens"] == 8192


def test_prompt_longer_than_the_context_window_is_400(http: httpx.Client) -> None:
    resp = post(http, body("x" * 9000, max_tokens=10))
    assert_error(resp, 400, "invalid_request_error", contains="prompt is too long")


# ---------------------------------------------------------------- count_tokens


@pytest.mark.parametrize(
    "payload",
    [
        body("#say:hi"),
        body("#say:hi", system="Be kind."),
        {"model": MODEL, "max_tokens": 8, "messages": [user("a"), assistant("b"), user("#say:c")]},
        {"model": MODEL, "max_tokens": 8, "messages": [user("#say:x"), assistant("prefill")]},
        body("#say:ünïcödé ✓"),
        {
            "model": MODEL,
            "max_tokens": 8,
            "messages": [
                user(
                    [
                        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
                        {"type": "text", "text": "#say:ok"},
                    ]
                )
            ],
        },
    ],
    ids=["plain", "system", "multi-turn", "prefill", "unicode", "document"],
)
def test_count_tokens_equals_billed_input_tokens(http: httpx.Client, payload: dict[str, Any]) -> None:
    billed = post(http, payload).json()["usage"]["input_tokens"]
    assert count(http, payload) == billed


def test_sdk_count_tokens_equals_usage(client: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "#say:count me"}]
    counted = client.messages.count_tokens(model=MODEL, messages=messages, system="sys")
    message = client.messages.create(model=MODEL, max_tokens=16, messages=messages, system="sys")
    assert counted.input_tokens == message.usage.input_tokens
    assert counted.input_tokens == fake_tokens(chatml([("system", "sys"), ("user", "#say:count me")]))


def test_count_tokens_is_not_generation(http: httpx.Client) -> None:
    """Counting a request that would fail in the engine still succeeds."""
    assert count(http, body("#fail-before")) == fake_tokens(chatml([("user", "#fail-before")]))


# ---------------------------------------------------------------- metadata and other accepted fields


@pytest.mark.parametrize(
    "extra",
    [
        {"metadata": {"user_id": "user-123"}},
        {"metadata": {"user_id": None}},
        {"service_tier": "auto"},
        {"service_tier": "standard_only"},
        {"stream": False},
        {"cache_control": {"type": "ephemeral"}},
        {"output_config": {"effort": "low"}},
        {"inference_geo": "us"},
        {"speed": "standard"},
    ],
    ids=lambda e: next(iter(e)),
)
def test_optional_fields_are_accepted(http: httpx.Client, extra: dict[str, Any]) -> None:
    resp = post(http, body("#say:ok", **extra))
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "ok"


def test_response_blocks_can_be_sent_back_as_history(client: anthropic.Anthropic) -> None:
    first = client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "#say:first"}])
    second = client.messages.create(
        model=MODEL,
        max_tokens=16,
        messages=[
            {"role": "user", "content": "#say:first"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": "#say:second"},
        ],
    )
    assert second.content[0].text == "second"  # type: ignore[union-attr]
