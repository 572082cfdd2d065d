"""``accumulate()`` (generation/accumulate.py), in process with the fake engine.

The fold of the event stream is checked against an independent implementation (the
official SDK's ``accumulate_event``), and against the fold of the same events after an
SSE encode/parse round trip, so the streaming and non-streaming paths cannot drift."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent as SdkEvent
from pydantic import TypeAdapter

from catalogs import fake_catalog
from epistula.api.sse import encode
from epistula.generation.accumulate import Accumulator, accumulate
from epistula.generation.pipeline import MessageRun
from epistula.generation.prepare import prepare_message
from epistula.models.catalog import Catalog
from epistula.protocol.content import TextBlock
from epistula.protocol.messages import Message, MessageCreateParams
from epistula.protocol.streaming import (
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawMessageStartEvent,
    RawMessageStreamEvent,
    TextDelta,
    ThinkingDelta,
)
from epistula.protocol.usage import Usage

EVENTS = TypeAdapter(RawMessageStreamEvent)

WEATHER = {
    "name": "get_weather",
    "description": "Weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}</tool_call>'


def catalog() -> Catalog:
    cat = fake_catalog()
    return cat


async def run_events(payload: dict[str, Any]) -> list[Any]:
    cat = catalog()
    params = MessageCreateParams.model_validate({"model": "fake", "max_tokens": 64, **payload})
    prepared = prepare_message(params, cat.resolve(params.model), version="2023-06-01")
    run = MessageRun(cat.models[0].engine, prepared)
    await run.open()
    return [event async for event in run.events()]


def sdk_fold(events: list[Any]) -> dict[str, Any]:
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event in events:
        sdk_event = TypeAdapter(SdkEvent).validate_python(event.model_dump(mode="json"))
        snapshot = accumulate_event(event=sdk_event, current_snapshot=snapshot, json_bufs=json_bufs)
    assert snapshot is not None
    return dict(snapshot.model_dump(mode="json", exclude_none=False))


def roundtrip(events: list[Any]) -> list[Any]:
    out = []
    for event in events:
        frame = encode(event).decode()
        name_line, data_line, *_ = frame.split("\n")
        assert name_line == f"event: {event.type}"
        out.append(EVENTS.validate_json(data_line[len("data: ") :]))
    return out


PAYLOADS = {
    "plain": {"messages": [{"role": "user", "content": "#say:Hello, world!"}]},
    "unicode": {"messages": [{"role": "user", "content": "#say:héllo ✓ 🎉"}]},
    "stop_sequence": {"messages": [{"role": "user", "content": "#say:a STOP b"}], "stop_sequences": ["STOP"]},
    "max_tokens": {"messages": [{"role": "user", "content": "#say:abcdefgh"}], "max_tokens": 3},
    "max_tokens_zero": {"messages": [{"role": "user", "content": "#say:abc"}], "max_tokens": 0},
    "empty": {"messages": [{"role": "user", "content": "#say:"}]},
    "tool_use": {
        "messages": [{"role": "user", "content": "#say:Sure. " + CALL}],
        "tools": [WEATHER],
        "max_tokens": 300,
    },
}


def same(ours: Any, theirs: Any, path: str = "") -> None:
    """``ours == theirs``, except that keys only the SDK knows must be null."""
    if isinstance(ours, dict):
        assert isinstance(theirs, dict), path
        for key, value in ours.items():
            same(value, theirs.get(key), f"{path}.{key}")
        for key in set(theirs) - set(ours):
            assert theirs[key] is None, f"{path}.{key} = {theirs[key]!r} only in the SDK fold"
    elif isinstance(ours, list):
        assert isinstance(theirs, list) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            same(a, b, f"{path}.{i}")
    else:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_fold_equals_the_sdk_accumulator(name: str) -> None:
    events = asyncio.run(run_events(PAYLOADS[name]))
    same(accumulate(events).model_dump(mode="json"), sdk_fold(events))


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_fold_survives_the_sse_round_trip(name: str) -> None:
    events = asyncio.run(run_events(PAYLOADS[name]))
    assert accumulate(roundtrip(events)) == accumulate(events)


def test_fold_of_a_plain_reply() -> None:
    message = accumulate(asyncio.run(run_events(PAYLOADS["plain"])))
    assert isinstance(message, Message)
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello, world!"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == len(b"Hello, world!")


def test_fold_of_a_tool_call_parses_the_input_json() -> None:
    message = accumulate(asyncio.run(run_events(PAYLOADS["tool_use"])))
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"city": "Paris", "days": [1, 2]}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"


def test_message_start_snapshot_is_not_mutated_by_the_fold() -> None:
    events = asyncio.run(run_events(PAYLOADS["plain"]))
    start = events[0]
    assert isinstance(start, RawMessageStartEvent)
    accumulate(events)
    assert start.message.content == []
    assert start.message.stop_reason is None


def test_fold_requires_message_start_first() -> None:
    with pytest.raises(ValueError):
        accumulate([RawContentBlockStartEvent(index=0, content_block=TextBlock(text=""))])


def test_fold_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        accumulate([])


def test_fold_rejects_a_delta_that_does_not_fit_its_block() -> None:
    acc = Accumulator()
    acc.add(
        RawMessageStartEvent(
            message=Message(id="msg_01x", model="m", content=[], usage=Usage(input_tokens=1, output_tokens=1))
        )
    )
    acc.add(RawContentBlockStartEvent(index=0, content_block=TextBlock(text="")))
    acc.add(RawContentBlockDeltaEvent(index=0, delta=TextDelta(text="ok")))
    with pytest.raises(ValueError):
        acc.add(RawContentBlockDeltaEvent(index=0, delta=ThinkingDelta(thinking="no")))
