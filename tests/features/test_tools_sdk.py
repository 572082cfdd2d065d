"""Tool use through the official SDK on the fake engine (scripted model output)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from .weather import CALL, run_weather_agent

WEATHER = {
    "name": "get_weather",
    "description": "Get the weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_tool_use_block_and_stop_reason(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=300,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": f"#say:Let me check.{CALL}"}],
    )
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "Let me check."  # type: ignore[union-attr]
    tool = message.content[1]
    assert tool.type == "tool_use" and tool.id.startswith("toolu_")
    assert tool.name == "get_weather" and tool.input == {"city": "Paris"}
    assert message.stop_reason == "tool_use"


def test_full_tool_loop(client: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": f"#say:{CALL}"}]
    first = client.messages.create(model="claude-sonnet-4-6", max_tokens=300, tools=[WEATHER], messages=messages)  # type: ignore[list-item]
    tool = next(b for b in first.content if b.type == "tool_use")
    messages += [
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "sunny, 21C"}]},
    ]
    second = client.messages.create(model="claude-sonnet-4-6", max_tokens=300, tools=[WEATHER], messages=messages)  # type: ignore[list-item]
    assert second.stop_reason == "end_turn"
    # The fake engine echoes the last user turn: the tool result reached the prompt.
    assert "sunny, 21C" in second.content[0].text  # type: ignore[union-attr]


def test_streaming_tool_input_reassembles_exactly(client: anthropic.Anthropic) -> None:
    args = {"city": 'Zürich "old town"', "days": 3, "nested": {"a": [1, 2, {"b": None}]}}
    call = json.dumps({"name": "get_weather", "arguments": args})
    fragments: list[str] = []
    with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=500,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": f"#say:<tool_call>{call}</tool_call>"}],
    ) as stream:
        order = []
        for event in stream:
            order.append(event.type)
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                fragments.append(event.delta.partial_json)
        final = stream.get_final_message()
    assert json.loads("".join(fragments)) == args
    assert final.content[0].input == args  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert order[0] == "message_start" and order[-1] == "message_stop"


def test_a_call_cut_by_max_tokens_is_a_tool_use_block(client: anthropic.Anthropic) -> None:
    """As on the Claude API: the cut call is a ``tool_use`` block holding what was written
    in full, the stop reason ``max_tokens``; streamed, the input deltas fold to the same."""
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}\n</tool_call>'
    said = "Let me check." + call
    limit = len(said.split(', "days"')[0]) + 4  # the fake engine's tokens are bytes: cut in "days"
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": limit,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "#say:" + said.replace("\n", "\\n")}],
    }
    message = client.messages.create(**request)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == limit
    assert [b.type for b in message.content] == ["text", "tool_use"]
    tool = message.content[1]
    assert tool.type == "tool_use" and tool.name == "get_weather" and tool.input == {"city": "Paris"}
    assert tool.id.startswith("toolu_")

    fragments: list[str] = []
    with client.messages.stream(**request) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                fragments.append(event.delta.partial_json)
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert json.loads("".join(fragments)) == final.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]

    # Cut inside the closing tag, the call is whole (and with one call allowed, it is the turn's end)
    request["max_tokens"] = len(said) - 3
    whole = client.messages.create(**request, tool_choice={"type": "auto", "disable_parallel_tool_use": True})
    assert whole.content[1].input == {"city": "Paris", "days": 3}  # type: ignore[union-attr]
    assert whole.stop_reason == "tool_use"


def test_text_block_closed_before_tool_block_opens(fake_url: str) -> None:
    import httpx

    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 300,
        "stream": True,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": f"#say:Checking now.{CALL}"}],
    }
    headers = {"x-api-key": "sk-test-features", "anthropic-version": "2023-06-01"}
    text = httpx.post(f"{fake_url}/v1/messages", json=body, headers=headers, timeout=30).text
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    kinds = [(e["type"], e.get("index")) for e in events if e["type"].startswith("content_block")]
    stop_text = kinds.index(("content_block_stop", 0))
    start_tool = kinds.index(("content_block_start", 1))
    assert stop_text < start_tool
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_parallel_calls_and_disable_parallel(client: anthropic.Anthropic) -> None:
    two = CALL + CALL.replace("Paris", "Rome")
    both = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=400,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": f"#say:{two}"}],
    )
    assert [b.input for b in both.content if b.type == "tool_use"] == [{"city": "Paris"}, {"city": "Rome"}]
    one = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=400,
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": f"#say:{two}"}],
    )
    assert [b.input for b in one.content if b.type == "tool_use"] == [{"city": "Paris"}]
    assert one.stop_reason == "tool_use"


def test_tool_choice_none_keeps_text(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=300,
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "none"},
        messages=[{"role": "user", "content": f"#say:{CALL}"}],
    )
    assert [b.type for b in message.content] == ["text"]
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        (
            [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}]}],
            "unexpected `tool_use_id` found in `tool_result` blocks: toolu_nope",
        ),
        (
            [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}],
                },
                {"role": "user", "content": "no result"},
            ],
            "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_a",
        ),
    ],
)
def test_tool_pairing_errors(client: anthropic.Anthropic, messages: list[Any], fragment: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10, tools=[WEATHER], messages=messages)  # type: ignore[list-item]
    assert fragment in info.value.body["error"]["message"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("tools", "fragment"),
    [
        ([{"name": "bad name!", "input_schema": {"type": "object"}}], "tools.0.custom.name"),
        ([{"name": "x", "input_schema": {"type": "array"}}], "tools.0.custom.input_schema.type"),
        ([WEATHER, WEATHER], "Tool names must be unique"),
        (
            [{"name": "x", "description": None, "input_schema": {"type": "object"}}],
            "tools.0.custom.description: Input should be a valid string",
        ),
        (
            [{"name": "x", "input_schema": {"type": "object"}, "bogus": 1}],
            "tools.0.custom.bogus: Extra inputs are not permitted",
        ),
        ([{"type": "web_search_20250305", "name": "web_search"}], "not supported by epistula"),
    ],
)
def test_tool_definition_validation(client: anthropic.Anthropic, tools: list[Any], fragment: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="claude-sonnet-4-6", max_tokens=10, tools=tools, messages=[{"role": "user", "content": "hi"}]
        )
    assert fragment in info.value.body["error"]["message"]  # type: ignore[index]


def test_sdk_tool_runner(client: anthropic.Anthropic) -> None:
    """The SDK's own agent loop helper runs the tool and sends the result back."""
    # epistula does not implement the server-side message-threads beta yet (it answers
    # `thread` with the documented `thread_unsupported_request` error): send full history.
    calls, final = run_weather_agent(client, "sunny", thread=False)
    assert calls == ["Paris"]
    assert final.stop_reason == "end_turn"
