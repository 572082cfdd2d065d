"""``/v1/chat/completions`` on the real embedded model (SmolLM2-135M): OpenAI function tools
become our tools, so a forced call's arguments are grammar-constrained to the schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from conftest import MODEL, LiveServer

from .conftest import openai_client

pytestmark = pytest.mark.model

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "units": {"type": "string", "enum": ["metric", "imperial"]},
    },
    "required": ["city", "days", "units"],
    "additionalProperties": False,
}
FORECAST = {
    "type": "function",
    "function": {"name": "get_forecast", "description": "Weather forecast for a city.", "parameters": SCHEMA},
}
FORCED = {"type": "function", "function": {"name": "get_forecast"}}


def test_forced_tool_call_validates_and_round_trips(model_server: LiveServer) -> None:
    client = openai_client(model_server)
    messages: list[Any] = [{"role": "user", "content": "What will the weather be in Lisbon for the next 3 days?"}]
    first = client.chat.completions.create(
        model=MODEL,
        messages=messages,
        tools=[FORECAST],
        tool_choice=FORCED,
        max_tokens=200,  # type: ignore[list-item,arg-type]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    [call] = choice.message.tool_calls or []
    assert call.function.name == "get_forecast"
    jsonschema.validate(json.loads(call.function.arguments), SCHEMA)

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "Sunny all week, 25 C."})
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[FORECAST], max_tokens=60)  # type: ignore[list-item]
    reply = second.choices[0]
    assert reply.finish_reason in ("stop", "length", "tool_calls")
    assert (reply.message.content or "").strip() or reply.message.tool_calls, reply
    assert second.usage is not None and first.usage is not None
    assert second.usage.prompt_tokens > first.usage.prompt_tokens  # the call and its result are in the prompt


def test_streamed_forced_tool_call_validates(model_server: LiveServer) -> None:
    client = openai_client(model_server)
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Forecast for Oslo, one day, metric please."}],
            tools=[FORECAST],  # type: ignore[list-item]
            tool_choice=FORCED,  # type: ignore[arg-type]
            max_tokens=200,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas and deltas[0].id and deltas[0].function and deltas[0].function.name == "get_forecast"
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    jsonschema.validate(json.loads(arguments), SCHEMA)
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_response_format_json_schema_validates(model_server: LiveServer) -> None:
    client = openai_client(model_server)
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Plan a short trip."}],
        response_format={"type": "json_schema", "json_schema": {"name": "trip", "schema": SCHEMA}},
        max_tokens=120,
    )
    jsonschema.validate(json.loads(completion.choices[0].message.content or ""), SCHEMA)
