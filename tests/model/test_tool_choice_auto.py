"""``tool_choice: auto`` on the real model (SmolLM2-135M): the grammar is lazy, so the
model writes freely until it opens ``<tool_call>``; from there the call is constrained,
so a ``tool_use`` block that appears always has input valid for the tool's schema.

A 135M model calls a tool on its own only with a pattern to follow: three earlier turns
answered through the tool make a fourth call likely. Half the time the model opens a
``<tool_response>`` and would invent the tool's answer; that opener triggers the grammar
too, so it holds a call instead (20 of 20 at temperature 0.7 once it did, 6 of 20 before;
CI once failed 3 attempts in a row). Up to three attempts; every attempt's calls must
validate, not only the first.
"""

from __future__ import annotations

from typing import Any

import anthropic
import jsonschema
import pytest

from conftest import V2023, LiveServer

pytestmark = pytest.mark.model

MODEL = "claude-haiku-4-5"
WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 1, "maxLength": 40},
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city"],
    },
}
ATTEMPTS = 3


def _turns(i: int, city: str, report: str) -> list[dict[str, Any]]:
    call = {"type": "tool_use", "id": f"toolu_0{i}", "name": "get_weather", "input": {"city": city}}
    result = {"type": "tool_result", "tool_use_id": f"toolu_0{i}", "content": report}
    return [
        {"role": "user", "content": f"What is the weather in {city}?"},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result]},
        {"role": "assistant", "content": f"{report}."},
    ]


MESSAGES = [
    *_turns(1, "London", "12 C, rain"),
    *_turns(2, "Berlin", "9 C, cloudy"),
    *_turns(3, "Rome", "18 C, sunny"),
    {"role": "user", "content": "What is the weather in Paris?"},
]


@pytest.fixture(scope="module")
def sdk(model_server: LiveServer) -> anthropic.Anthropic:
    return model_server.client(version=V2023, timeout=120.0)


def test_auto_tool_call_appears_and_validates(sdk: anthropic.Anthropic) -> None:
    replies = []
    for _ in range(ATTEMPTS):
        message = sdk.messages.create(  # type: ignore[call-overload]
            model=MODEL,
            max_tokens=96,
            system="Answer weather questions by calling get_weather.",
            tools=[WEATHER],
            tool_choice={"type": "auto"},
            messages=MESSAGES,
            extra_body={"temperature": 0.7},
        )
        calls = [b for b in message.content if b.type == "tool_use"]
        for call in calls:
            assert call.name == "get_weather"
            jsonschema.validate(call.input, WEATHER["input_schema"])
        replies.append(message.content)
        if calls:
            assert message.stop_reason == "tool_use"
            return
    pytest.fail(f"no tool_use block in {ATTEMPTS} replies: {replies}")
