"""Tool use over the wire with the fake engine: the engine's text is scripted with ``#say:``
to contain Hermes-style ``<tool_call>`` markup, which the server must turn into
``tool_use`` blocks (non-streaming and streaming), with ``stop_reason: tool_use``."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx

from conftest import API_KEY, MODEL, TOOL_ID_RE, V2023, assert_error, assistant, parse_sse, user

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME = {"name": "get_time", "description": "Local time", "input_schema": {"type": "object", "properties": {}}}


def call(name: str, args: dict[str, Any]) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": args}) + "</tool_call>"


def tool_body(say: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 400, "tools": [WEATHER, TIME], "messages": [user("#say:" + say)], **extra}


def post(http: httpx.Client, payload: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
    return http.post(path, json=payload, headers={"x-api-key": API_KEY, "anthropic-version": V2023})


def test_tool_call_becomes_a_tool_use_block(http: httpx.Client) -> None:
    resp = post(http, tool_body(call("get_weather", {"city": "Paris"})))
    assert resp.status_code == 200, resp.text
    message = resp.json()
    assert message["stop_reason"] == "tool_use"
    assert message["stop_sequence"] is None
    [block] = message["content"]
    assert block["type"] == "tool_use"
    assert TOOL_ID_RE.fullmatch(block["id"]), block["id"]
    assert block["name"] == "get_weather"
    assert block["input"] == {"city": "Paris"}
    assert block["caller"] == {"type": "direct"}


def test_text_before_a_tool_call_is_its_own_text_block(http: httpx.Client) -> None:
    resp = post(http, tool_body("Let me check. " + call("get_weather", {"city": "Oslo"})))
    message = resp.json()
    assert [b["type"] for b in message["content"]] == ["text", "tool_use"]
    assert message["content"][0]["text"] == "Let me check. "
    assert message["content"][1]["input"] == {"city": "Oslo"}
    assert message["stop_reason"] == "tool_use"


def test_parallel_tool_calls_become_several_blocks_with_distinct_ids(http: httpx.Client) -> None:
    resp = post(http, tool_body(call("get_weather", {"city": "Rome"}) + "\\n" + call("get_time", {})))
    message = resp.json()
    blocks = message["content"]
    assert [b["name"] for b in blocks if b["type"] == "tool_use"] == ["get_weather", "get_time"]
    ids = [b["id"] for b in blocks if b["type"] == "tool_use"]
    assert len(set(ids)) == 2
    assert message["stop_reason"] == "tool_use"


def test_disable_parallel_tool_use_keeps_only_the_first_call(http: httpx.Client) -> None:
    payload = tool_body(
        call("get_weather", {"city": "Rome"}) + call("get_time", {}),
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )
    message = post(http, payload).json()
    assert [b["name"] for b in message["content"] if b["type"] == "tool_use"] == ["get_weather"]
    assert message["stop_reason"] == "tool_use"


def test_call_to_a_tool_that_was_not_offered_stays_text(http: httpx.Client) -> None:
    text = call("launch_rockets", {"count": 3})
    message = post(http, tool_body(text)).json()
    assert [b["type"] for b in message["content"]] == ["text"]
    assert message["content"][0]["text"] == text
    assert message["stop_reason"] == "end_turn"


def test_tool_call_markup_without_tools_is_plain_text(http: httpx.Client) -> None:
    text = call("get_weather", {"city": "Paris"})
    payload = tool_body(text)
    del payload["tools"]
    message = post(http, payload).json()
    assert message["content"] == [{"type": "text", "text": text, "citations": None}]
    assert message["stop_reason"] == "end_turn"


def test_tool_choice_none_disables_tool_parsing(http: httpx.Client) -> None:
    text = call("get_weather", {"city": "Paris"})
    message = post(http, tool_body(text, tool_choice={"type": "none"})).json()
    assert [b["type"] for b in message["content"]] == ["text"]
    assert message["stop_reason"] == "end_turn"


def test_streamed_tool_use_block_follows_the_wire_format(http: httpx.Client) -> None:
    args = {"city": "São Paulo", "note": "x" * 150}
    resp = post(http, tool_body("Checking. " + call("get_weather", args), stream=True))
    assert resp.status_code == 200, resp.text
    events = parse_sse(resp.text)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    starts = [data for name, data in events if name == "content_block_start"]
    assert [s["content_block"]["type"] for s in starts] == ["text", "tool_use"]
    tool_start = starts[1]
    assert tool_start["index"] == 1
    assert tool_start["content_block"]["input"] == {}
    assert tool_start["content_block"]["name"] == "get_weather"
    assert TOOL_ID_RE.fullmatch(tool_start["content_block"]["id"])
    partials = [
        data["delta"]["partial_json"] for name, data in events if name == "content_block_delta" and data["index"] == 1
    ]
    assert all(
        d["delta"]["type"] == "input_json_delta" for n, d in events if n == "content_block_delta" and d["index"] == 1
    )
    assert json.loads("".join(partials)) == args
    stops = [data["index"] for name, data in events if name == "content_block_stop"]
    assert stops == [0, 1]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_sdk_stream_accumulates_tool_input(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL,
        max_tokens=400,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "#say:" + call("get_weather", {"city": "Lima"})}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    [block] = final.content
    assert block.type == "tool_use"
    assert block.input == {"city": "Lima"}


def test_tool_round_trip_is_accepted(client: anthropic.Anthropic) -> None:
    first = client.messages.create(
        model=MODEL,
        max_tokens=400,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "#say:" + call("get_weather", {"city": "Lima"})}],
    )
    tool_use = first.content[0]
    assert tool_use.type == "tool_use"
    second = client.messages.create(
        model=MODEL,
        max_tokens=400,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "weather in Lima?"},
            {"role": "assistant", "content": first.content},  # response blocks passed straight back
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny"},
                    {"type": "text", "text": "#say:It is sunny."},
                ],
            },
        ],
    )
    assert second.content[0].type == "text"
    assert second.content[0].text == "It is sunny."
    assert second.stop_reason == "end_turn"


def test_count_tokens_includes_tool_definitions_and_matches_usage(http: httpx.Client) -> None:
    messages = [user("#say:" + call("get_weather", {"city": "Paris"}))]
    plain = post(http, {"model": MODEL, "messages": messages}, "/v1/messages/count_tokens").json()["input_tokens"]
    with_tools = post(http, {"model": MODEL, "messages": messages, "tools": [WEATHER]}, "/v1/messages/count_tokens")
    assert with_tools.status_code == 200, with_tools.text
    counted = with_tools.json()["input_tokens"]
    assert counted > plain
    billed = post(http, {"model": MODEL, "max_tokens": 400, "messages": messages, "tools": [WEATHER]}).json()
    assert billed["usage"]["input_tokens"] == counted


def test_duplicate_tool_names_are_400(http: httpx.Client) -> None:
    resp = post(http, tool_body("hi") | {"tools": [WEATHER, WEATHER]})
    assert_error(resp, 400, "invalid_request_error", contains="unique")


def test_tool_choice_naming_an_unknown_tool_is_400(http: httpx.Client) -> None:
    resp = post(http, tool_body("hi", tool_choice={"type": "tool", "name": "nope"}))
    assert_error(resp, 400, "invalid_request_error", contains="tool_choice")


def test_anthropic_defined_server_tool_is_rejected_naming_it(http: httpx.Client) -> None:
    resp = post(http, tool_body("hi") | {"tools": [{"type": "web_search_20250305", "name": "web_search"}]})
    assert_error(resp, 400, "invalid_request_error", contains="web_search_20250305")


def test_tool_input_schema_must_be_an_object_schema(http: httpx.Client) -> None:
    bad = {"name": "t", "input_schema": {"type": "string"}}
    resp = post(http, tool_body("hi") | {"tools": [bad]})
    assert_error(resp, 400, "invalid_request_error", contains="tools.0")


def test_structured_output_request_is_accepted(http: httpx.Client) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    payload = {
        "model": MODEL,
        "max_tokens": 50,
        "messages": [user('#say:{"a": 1}')],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }
    resp = post(http, payload)
    assert resp.status_code == 200, resp.text
    assert json.loads(resp.json()["content"][0]["text"]) == {"a": 1}


def test_tool_use_history_without_tools_param_is_accepted(http: httpx.Client) -> None:
    payload = {
        "model": MODEL,
        "max_tokens": 50,
        "messages": [
            user("weather?"),
            assistant([{"type": "tool_use", "id": "toolu_01x", "name": "get_weather", "input": {"city": "Nice"}}]),
            user([{"type": "tool_result", "tool_use_id": "toolu_01x", "content": [{"type": "text", "text": "warm"}]}]),
            assistant("It is warm."),
            user("#say:ok"),
        ],
    }
    resp = post(http, payload)
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "ok"
