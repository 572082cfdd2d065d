"""Constrained decoding on the real embedded model: every forced tool input validates."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import anthropic
import jsonschema
import pytest

from epistula.config import Settings

from .conftest import KEY, _serve
from .weather import FORECAST_SCHEMA

pytestmark = pytest.mark.model

SCHEMAS: list[dict[str, Any]] = [
    FORECAST_SCHEMA,
    {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "timeout": {"type": "integer", "minimum": 0, "maximum": 600000},
            "mode": {"type": "string", "enum": ["fast", "safe"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "dry_run": {"type": "boolean"},
        },
        "required": ["command", "mode", "tags"],
        "additionalProperties": False,
    },
]


@pytest.fixture(scope="module")
def model_client() -> Iterator[anthropic.Anthropic]:
    data = tempfile.mkdtemp()
    for url in _serve(Settings(engine="llamacpp", api_key=KEY, data_dir=data, n_seq_max=4)):
        yield anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)


RUNS = int(os.environ.get("EPISTULA_TOOL_RUNS", "8"))


@pytest.mark.parametrize("schema", SCHEMAS, ids=["weather", "bash"])
def test_forced_tool_inputs_always_validate(model_client: anthropic.Anthropic, schema: dict[str, Any]) -> None:
    tool = {"name": "do_it", "description": "Do the thing the user asks.", "input_schema": schema}
    valid = 0
    for i in range(RUNS):
        message = model_client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=400,
            tools=[tool],  # type: ignore[list-item]
            tool_choice={"type": "tool", "name": "do_it"},
            messages=[{"role": "user", "content": f"Request {i}: check the weather in city number {i}."}],
        )
        calls = [b for b in message.content if b.type == "tool_use"]
        assert len(calls) == 1, message
        assert message.stop_reason == "tool_use"
        jsonschema.validate(calls[0].input, schema)
        valid += 1
    assert valid == RUNS


def test_structured_output_validates(model_client: anthropic.Anthropic) -> None:
    schema = SCHEMAS[0]
    for _ in range(4):
        message = model_client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=120,
            output_config={"format": {"type": "json_schema", "schema": schema}},  # type: ignore[typeddict-item]
            messages=[{"role": "user", "content": "Plan a trip."}],
        )
        jsonschema.validate(json.loads(message.content[0].text), schema)  # type: ignore[union-attr]


@pytest.mark.parametrize("limit", [1, 6, 14, 24])
def test_a_forced_call_cut_by_max_tokens_is_still_the_call(model_client: anthropic.Anthropic, limit: int) -> None:
    """As on the Claude API: however early ``max_tokens`` cuts the forced call (before or
    after its name, inside its input), the reply is that tool's ``tool_use`` block holding
    what was written in full, never the call syntax as text; streamed alike."""
    tool = {"name": "do_it", "description": "Do the thing the user asks.", "input_schema": SCHEMAS[1]}
    request: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": limit,
        "tools": [tool],
        "tool_choice": {"type": "tool", "name": "do_it"},
        "messages": [{"role": "user", "content": "List the files, fast, tagged 'ls'."}],
    }
    message = model_client.messages.create(**request)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == limit
    (call,) = message.content
    assert call.type == "tool_use" and call.name == "do_it" and call.id.startswith("toolu_")
    jsonschema.validate(call.input, {**SCHEMAS[1], "required": []})
    with model_client.messages.stream(**request) as stream:
        fragments = [
            e.delta.partial_json
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
        ]
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens" and [b.type for b in final.content] == ["tool_use"]
    assert json.loads("".join(fragments) or "{}") == final.content[0].input  # type: ignore[union-attr]
