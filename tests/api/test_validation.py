"""Request validation over the wire: exact status, ``error.type`` and message, as the real API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import API_KEY, MODEL, V2023, V2026, assert_error, assistant, body, user

PDF_B64 = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcjw8L1Jvb3QgMSAwIFI+PgolJUVPRgo="
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def post(
    http: httpx.Client, payload: dict[str, Any], *, version: str = V2023, path: str = "/v1/messages"
) -> httpx.Response:
    return http.post(path, json=payload, headers={"x-api-key": API_KEY, "anthropic-version": version})


def with_messages(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 32, "messages": list(messages), **extra}


def count_body(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in ("max_tokens", "stream", "stop_sequences")}


# ---------------------------------------------------------------- unknown fields


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (body(foo=1), "foo: Extra inputs are not permitted"),
        (body(metadata={"user_id": "u", "email": "x"}), "metadata.email: Extra inputs are not permitted"),
        (
            with_messages({"role": "user", "content": "hi", "name": "bob"}),
            "messages.0.name: Extra inputs are not permitted",
        ),
        (
            with_messages(user([{"type": "text", "text": "hi", "bogus": True}])),
            "messages.0.content.0.text.bogus: Extra inputs are not permitted",
        ),
        (
            body(system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "foo": 1}}]),
            "system.0.cache_control.ephemeral.foo: Extra inputs are not permitted",
        ),
        (
            body(thinking={"type": "enabled", "budget_tokens": 1024, "extra": 1}, max_tokens=2048),
            "thinking.enabled.extra: Extra inputs are not permitted",
        ),
    ],
    ids=["top-level", "metadata", "message", "text-block", "system-cache-control", "thinking"],
)
def test_unknown_fields_are_rejected_with_their_path(http: httpx.Client, payload: dict[str, Any], message: str) -> None:
    assert_error(post(http, payload), 400, "invalid_request_error", message)


def test_unknown_top_level_field_is_rejected_by_count_tokens(http: httpx.Client) -> None:
    payload = {"model": MODEL, "messages": [user("hi")], "foo": 1}
    resp = post(http, payload, path="/v1/messages/count_tokens")
    assert_error(resp, 400, "invalid_request_error", "foo: Extra inputs are not permitted")


@pytest.mark.parametrize("field", ["max_tokens", "stream", "stop_sequences", "metadata", "temperature"])
def test_count_tokens_rejects_generation_only_fields(http: httpx.Client, field: str) -> None:
    values = {"max_tokens": 10, "stream": False, "stop_sequences": ["x"], "metadata": {}, "temperature": 0.5}
    payload = {"model": MODEL, "messages": [user("hi")], field: values[field]}
    resp = post(http, payload, path="/v1/messages/count_tokens")
    assert_error(resp, 400, "invalid_request_error", f"{field}: Extra inputs are not permitted")


# ---------------------------------------------------------------- required fields and types


@pytest.mark.parametrize("field", ["model", "max_tokens", "messages"])
def test_missing_required_field_is_field_required(http: httpx.Client, field: str) -> None:
    payload = body()
    del payload[field]
    assert_error(post(http, payload), 400, "invalid_request_error", f"{field}: Field required")


def test_text_block_without_text_is_field_required(http: httpx.Client) -> None:
    resp = post(http, with_messages(user([{"type": "text"}])))
    assert_error(resp, 400, "invalid_request_error", "messages.0.content.0.text.text: Field required")


def test_max_tokens_of_wrong_type_is_400(http: httpx.Client) -> None:
    resp = post(http, body(max_tokens="many"))
    assert_error(resp, 400, "invalid_request_error", contains="max_tokens: Input should be a valid integer")


def test_negative_max_tokens_is_400(http: httpx.Client) -> None:
    assert_error(post(http, body(max_tokens=-1)), 400, "invalid_request_error", contains="max_tokens")


def test_max_tokens_above_the_model_maximum_is_400(http: httpx.Client) -> None:
    resp = post(http, body(max_tokens=10_000_000))
    assert_error(
        resp,
        400,
        "invalid_request_error",
        f"max_tokens: 10000000 > 128000, which is the maximum allowed number of output tokens for {MODEL}",
    )


def test_messages_of_wrong_type_is_400(http: httpx.Client) -> None:
    assert_error(post(http, body() | {"messages": "hi"}), 400, "invalid_request_error", contains="messages")


def test_unknown_role_is_400(http: httpx.Client) -> None:
    resp = post(http, with_messages({"role": "robot", "content": "hi"}))
    assert_error(resp, 400, "invalid_request_error", contains="messages.0")


def test_unknown_content_block_type_is_400(http: httpx.Client) -> None:
    resp = post(http, with_messages(user([{"type": "video", "url": "x"}])))
    assert_error(resp, 400, "invalid_request_error", contains="messages.0.content.0")


def test_stop_sequences_must_be_a_list(http: httpx.Client) -> None:
    resp = post(http, body(stop_sequences="STOP"))
    assert_error(resp, 400, "invalid_request_error", contains="stop_sequences")


# ---------------------------------------------------------------- messages rules


def test_empty_messages_is_400(http: httpx.Client) -> None:
    assert_error(post(http, with_messages()), 400, "invalid_request_error", contains="messages")


@pytest.mark.parametrize("content", ["", []], ids=["empty-string", "empty-list"])
def test_empty_user_content_is_400(http: httpx.Client, content: Any) -> None:
    resp = post(http, with_messages(user("hi"), assistant("ok"), user(content)))
    assert_error(resp, 400, "invalid_request_error", "messages.2: user messages must have non-empty content")


def test_empty_text_block_is_400(http: httpx.Client) -> None:
    resp = post(http, with_messages(user([{"type": "text", "text": "hi"}, {"type": "text", "text": ""}])))
    assert_error(resp, 400, "invalid_request_error", "messages: text content blocks must be non-empty")


def test_whitespace_only_sole_text_block_is_400(http: httpx.Client) -> None:
    resp = post(http, with_messages(user([{"type": "text", "text": "  \n "}])))
    assert_error(resp, 400, "invalid_request_error", "messages: text content blocks must contain non-whitespace text")


def test_whitespace_text_block_next_to_a_real_one_is_accepted(http: httpx.Client) -> None:
    resp = post(http, with_messages(user([{"type": "text", "text": "#say:ok"}, {"type": "text", "text": " "}])))
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("content", ["", []], ids=["empty-string", "empty-list"])
def test_empty_assistant_content_is_accepted(http: httpx.Client, content: Any) -> None:
    resp = post(http, with_messages(user("#say:ok"), assistant(content)))
    assert resp.status_code == 200, resp.text


def test_final_assistant_content_with_trailing_whitespace_is_400(http: httpx.Client) -> None:
    resp = post(http, with_messages(user("hi"), assistant("The answer is ")))
    assert_error(
        resp, 400, "invalid_request_error", "messages: final assistant content cannot end with trailing whitespace"
    )


def test_trailing_whitespace_in_a_non_final_assistant_turn_is_accepted(http: httpx.Client) -> None:
    resp = post(http, with_messages(user("hi"), assistant("ok "), user("#say:fine")))
    assert resp.status_code == 200, resp.text


def test_consecutive_user_turns_are_merged_not_rejected(http: httpx.Client) -> None:
    resp = post(http, with_messages(user("first"), user("#say:merged")))
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "merged"


def test_system_message_as_first_message_is_400(http: httpx.Client) -> None:
    resp = post(http, with_messages({"role": "system", "content": "be brief"}, user("hi")))
    assert_error(resp, 400, "invalid_request_error", contains="messages.0")


def test_mid_conversation_system_message_is_accepted(http: httpx.Client) -> None:
    resp = post(
        http, with_messages(user("hi"), assistant("hello"), user("#say:ok"), {"role": "system", "content": "be brief"})
    )
    assert resp.status_code == 200, resp.text


def test_thinking_block_in_a_user_message_is_400(http: httpx.Client) -> None:
    resp = post(http, with_messages(user([{"type": "thinking", "thinking": "hmm", "signature": "sig"}])))
    assert_error(resp, 400, "invalid_request_error", contains="messages.0.content.0")


def test_tool_use_without_tool_result_is_400(http: httpx.Client) -> None:
    resp = post(
        http,
        with_messages(
            user("weather?"),
            assistant([{"type": "tool_use", "id": "toolu_01abc", "name": "get_weather", "input": {}}]),
            user("never mind"),
        ),
    )
    assert_error(
        resp,
        400,
        "invalid_request_error",
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_01abc. "
        "Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
    )


def test_tool_result_with_unknown_tool_use_id_is_400(http: httpx.Client) -> None:
    resp = post(http, with_messages(user([{"type": "tool_result", "tool_use_id": "toolu_01zzz", "content": "42"}])))
    assert_error(
        resp,
        400,
        "invalid_request_error",
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_01zzz. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
    )


def test_paired_tool_use_and_tool_result_history_is_accepted(http: httpx.Client) -> None:
    """A past tool round trip is plain history; it needs no ``tools`` definition to be answered."""
    resp = post(
        http,
        with_messages(
            user("weather?"),
            assistant([{"type": "tool_use", "id": "toolu_01abc", "name": "get_weather", "input": {"city": "Paris"}}]),
            user(
                [
                    {"type": "tool_result", "tool_use_id": "toolu_01abc", "content": "sunny"},
                    {"type": "text", "text": "#say:ok"},
                ]
            ),
        ),
    )
    assert resp.status_code == 200, resp.text


def test_more_than_four_cache_breakpoints_is_400(http: httpx.Client) -> None:
    cc = {"type": "ephemeral"}
    blocks = [{"type": "text", "text": f"part {i}", "cache_control": cc} for i in range(5)]
    resp = post(http, with_messages(user(blocks)))
    assert_error(
        resp, 400, "invalid_request_error", "A maximum of 4 blocks with cache_control may be provided. Found 5."
    )


def test_four_cache_breakpoints_are_accepted(http: httpx.Client) -> None:
    cc = {"type": "ephemeral", "ttl": "5m"}
    blocks = [{"type": "text", "text": f"#say:part {i}", "cache_control": cc} for i in range(4)]
    resp = post(http, with_messages(user(blocks), cache_control=None))
    assert resp.status_code == 200, resp.text


# ---------------------------------------------------------------- system


def test_whitespace_only_system_string_is_400(http: httpx.Client) -> None:
    resp = post(http, body(system="   "))
    assert_error(resp, 400, "invalid_request_error", "system: text content blocks must contain non-whitespace text")


def test_empty_system_text_block_is_400(http: httpx.Client) -> None:
    resp = post(http, body(system=[{"type": "text", "text": ""}]))
    assert_error(resp, 400, "invalid_request_error", "system: text content blocks must be non-empty")


def test_empty_system_string_is_accepted(http: httpx.Client) -> None:
    resp = post(http, body("#say:ok", system=""))
    assert resp.status_code == 200, resp.text


# ---------------------------------------------------------------- thinking


def test_thinking_budget_below_1024_is_400(http: httpx.Client) -> None:
    resp = post(http, body(thinking={"type": "enabled", "budget_tokens": 512}, max_tokens=2048))
    assert_error(
        resp,
        400,
        "invalid_request_error",
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    )


def test_thinking_budget_not_below_max_tokens_is_400(http: httpx.Client) -> None:
    resp = post(http, body(thinking={"type": "enabled", "budget_tokens": 2048}, max_tokens=2048))
    payload = assert_error(resp, 400, "invalid_request_error")
    assert payload["error"]["message"].startswith("`max_tokens` must be greater than `thinking.budget_tokens`")


def test_thinking_enabled_on_a_non_reasoning_model_gets_a_thinking_block(http: httpx.Client) -> None:
    resp = post(http, body("#say:plain", thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048))
    assert resp.status_code == 200, resp.text
    content = resp.json()["content"]
    assert [b["type"] for b in content] == ["thinking", "text"]
    assert content[0]["signature"] and content[1]["text"] == "plain"


@pytest.mark.parametrize("thinking", [{"type": "disabled"}, {"type": "adaptive"}])
def test_other_thinking_modes_are_accepted(http: httpx.Client, thinking: dict[str, Any]) -> None:
    resp = post(http, body("#say:ok", thinking=thinking))
    assert resp.status_code == 200, resp.text


def test_thinking_with_forced_tool_choice_is_400(http: httpx.Client) -> None:
    resp = post(
        http, body(thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048, tool_choice={"type": "any"})
    )
    assert_error(resp, 400, "invalid_request_error", "Thinking may not be enabled when tool_choice forces tool use.")


# ---------------------------------------------------------------- unsupported features are clear 400s

TOOL = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}}}


def test_tool_with_invalid_name_is_400_with_pattern(http: httpx.Client) -> None:
    resp = post(http, body(tools=[{**TOOL, "name": "get weather"}]))
    assert_error(
        resp, 400, "invalid_request_error", "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
    )


def test_tool_with_null_description_is_400(http: httpx.Client) -> None:
    resp = post(http, body(tools=[{**TOOL, "description": None}]))
    assert_error(resp, 400, "invalid_request_error", "tools.0.custom.description: Input should be a valid string")


def test_image_block_is_rejected_naming_images(http: httpx.Client) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
    resp = post(http, with_messages(user([image, {"type": "text", "text": "what is this?"}])))
    assert_error(resp, 400, "invalid_request_error", contains="image")


def test_image_inside_tool_result_is_rejected_naming_images(http: httpx.Client) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
    resp = post(
        http,
        with_messages(
            user("look"),
            assistant([{"type": "tool_use", "id": "toolu_01a", "name": "screenshot", "input": {}}]),
            user([{"type": "tool_result", "tool_use_id": "toolu_01a", "content": [image]}]),
        ),
    )
    assert_error(resp, 400, "invalid_request_error", contains="image")


def test_base64_pdf_document_is_rejected(http: httpx.Client) -> None:
    doc = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64}}
    resp = post(http, with_messages(user([doc, {"type": "text", "text": "summarise"}])))
    payload = assert_error(resp, 400, "invalid_request_error")
    text = payload["error"]["message"].lower()
    assert "pdf" in text or "document" in text


def test_plain_text_document_is_accepted(http: httpx.Client) -> None:
    doc = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "Some notes."},
        "title": "Notes",
    }
    resp = post(http, with_messages(user([doc, {"type": "text", "text": "#say:read"}])))
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "read"


# ---------------------------------------------------------------- API-version rules


@pytest.mark.parametrize(("field", "value"), [("temperature", 1.0), ("top_p", 0.9), ("top_k", 5)])
def test_sampling_params_are_rejected_under_2026(http: httpx.Client, field: str, value: float) -> None:
    resp = post(http, body(**{field: value}), version=V2026)
    assert_error(resp, 400, "invalid_request_error", f"{field}: Extra inputs are not permitted")


def test_temperature_is_rejected_by_count_tokens_under_2026(http: httpx.Client) -> None:
    payload = {"model": MODEL, "messages": [user("hi")], "temperature": 0.5}
    resp = post(http, payload, version=V2026, path="/v1/messages/count_tokens")
    assert_error(resp, 400, "invalid_request_error", "temperature: Extra inputs are not permitted")


@pytest.mark.parametrize(("field", "value"), [("temperature", 0.0), ("top_p", 0.9), ("top_k", 5)])
def test_sampling_params_are_accepted_under_2023(http: httpx.Client, field: str, value: float) -> None:
    resp = post(http, body("#say:ok", **{field: value}), version=V2023)
    assert resp.status_code == 200, resp.text


def test_temperature_above_one_is_400_under_2023(http: httpx.Client) -> None:
    resp = post(http, body(temperature=1.5), version=V2023)
    assert_error(resp, 400, "invalid_request_error", "temperature: Input should be less than or equal to 1")


def test_document_in_assistant_message_is_rejected_under_2026_only(http: httpx.Client) -> None:
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}}
    payload = with_messages(user("hi"), assistant([doc]), user("#say:ok"))
    assert_error(post(http, payload, version=V2026), 400, "invalid_request_error", contains="messages.1.content.0")
    assert post(http, payload, version=V2023).status_code == 200


def test_citations_on_user_text_are_rejected_under_2026_only(http: httpx.Client) -> None:
    citation = {
        "type": "char_location",
        "cited_text": "x",
        "document_index": 0,
        "document_title": None,
        "start_char_index": 0,
        "end_char_index": 1,
    }
    payload = with_messages(user([{"type": "text", "text": "#say:ok", "citations": [citation]}]))
    assert_error(post(http, payload, version=V2026), 400, "invalid_request_error", contains="messages.0.content.0")
    assert post(http, payload, version=V2023).status_code == 200


def test_sdk_passes_temperature_via_extra_body_under_2023(fake_server: Any) -> None:
    client = fake_server.client(version=V2023)
    message = client.messages.create(
        model=MODEL, max_tokens=8, messages=[user("#say:t0")], extra_body={"temperature": 0}
    )
    assert message.content[0].text == "t0"


def test_sdk_temperature_under_2026_raises_bad_request(client: Any) -> None:
    import anthropic

    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=MODEL, max_tokens=8, messages=[user("hi")], extra_body={"temperature": 0})
    assert info.value.body["error"]["message"] == "temperature: Extra inputs are not permitted"


# ---------------------------------------------------------------- validation is shared with count_tokens


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (with_messages(user([{"type": "text", "text": ""}])), "messages: text content blocks must be non-empty"),
        (with_messages(user("")), "messages.0: user messages must have non-empty content"),
        (body(system="  "), "system: text content blocks must contain non-whitespace text"),
    ],
)
def test_count_tokens_applies_the_same_content_rules(http: httpx.Client, payload: dict[str, Any], message: str) -> None:
    resp = post(http, count_body(payload), path="/v1/messages/count_tokens")
    assert_error(resp, 400, "invalid_request_error", message)


def test_count_tokens_unknown_model_is_404(http: httpx.Client) -> None:
    resp = post(http, {"model": "claude-nope", "messages": [user("hi")]}, path="/v1/messages/count_tokens")
    assert_error(resp, 404, "not_found_error", "model: claude-nope")
