"""``epistula.api.sse``: the text-delta fast path is byte-identical to the generic
encoder, pings fill idle gaps, errors become an ``error`` event, and closing the stream
(a client going away) closes the event source."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel

from epistula.api.sse import encode, sse_stream
from epistula.errors import InvalidRequestError
from epistula.protocol.content import TextBlock
from epistula.protocol.streaming import (
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawMessageStopEvent,
    TextDelta,
    ThinkingDelta,
)

TEXTS = ["", "hello", " world", 'quote " and \\ backslash', "new\nline\ttab", "héllo ✓ 🎉", "\x00\x1f\u2028", "</s>"]


def generic(event: BaseModel) -> bytes:
    data = event.model_dump(mode="json", by_alias=True)
    return f"event: {data['type']}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("index", [0, 7, 123])
def test_text_delta_fast_path_is_byte_identical(text: str, index: int) -> None:
    event = RawContentBlockDeltaEvent(index=index, delta=TextDelta(text=text))
    assert encode(event) == generic(event)


def test_other_deltas_take_the_generic_path() -> None:
    event = RawContentBlockDeltaEvent(index=1, delta=ThinkingDelta(thinking="hm"))
    assert encode(event) == generic(event)


def frames(data: bytes) -> list[str]:
    return [chunk.split("\n", 1)[0].removeprefix("event: ") for chunk in data.decode().split("\n\n") if chunk]


async def collect(events: AsyncIterator[BaseModel], ping_interval: float = 5.0) -> list[str]:
    out = b"".join([chunk async for chunk in sse_stream(events, request_id="req_x", ping_interval=ping_interval)])
    return frames(out)


def test_ping_follows_the_first_block_start_and_fills_idle_gaps() -> None:
    async def events() -> AsyncIterator[BaseModel]:
        yield RawContentBlockStartEvent(index=0, content_block=TextBlock(text=""))
        yield RawContentBlockDeltaEvent(index=0, delta=TextDelta(text="a"))
        await asyncio.sleep(0.35)  # several ping intervals with nothing to send
        yield RawContentBlockDeltaEvent(index=0, delta=TextDelta(text="b"))
        yield RawMessageStopEvent()

    names = asyncio.run(collect(events(), ping_interval=0.1))
    assert names[:3] == ["content_block_start", "ping", "content_block_delta"]
    assert names[-2:] == ["content_block_delta", "message_stop"]
    assert names[3:-2] and set(names[3:-2]) == {"ping"}


def test_failure_becomes_an_error_event_and_ends_the_stream() -> None:
    async def events() -> AsyncIterator[BaseModel]:
        yield RawContentBlockDeltaEvent(index=0, delta=TextDelta(text="a"))
        raise InvalidRequestError("boom")

    async def scenario() -> bytes:
        stream = sse_stream(events(), request_id="req_x", ping_interval=5.0)
        return b"".join([chunk async for chunk in stream])

    data = asyncio.run(scenario()).decode()
    assert frames(data.encode()) == ["content_block_delta", "error"]
    error = json.loads(data.split("\n\n")[1].split("data: ", 1)[1])
    assert error == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "boom"},
        "request_id": "req_x",
    }


def test_closing_the_stream_closes_the_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[BaseModel]:
        try:
            while True:
                yield RawContentBlockDeltaEvent(index=0, delta=TextDelta(text="x"))
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    async def scenario() -> None:
        stream = sse_stream(endless(), request_id="req_x", ping_interval=5.0)
        assert (await anext(stream)).startswith(b"event: content_block_delta")
        await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.wait_for(closed.wait(), 5)

    asyncio.run(scenario())
