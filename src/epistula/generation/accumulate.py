"""Fold a stream of events into the final ``Message``: the only place that builds one.

Non-streaming responses and batch results are this fold of the same event stream
a streaming client receives.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from epistula.protocol import streaming as ev
from epistula.protocol.content import TextBlock, ThinkingBlock, ToolUseBlock
from epistula.protocol.messages import Message
from epistula.protocol.servertools import ServerToolUseBlock


class Accumulator:
    def __init__(self) -> None:
        self.message: Message | None = None
        self._json: dict[int, str] = {}

    def add(self, event: ev.RawMessageStreamEvent) -> None:
        if isinstance(event, ev.RawMessageStartEvent):
            self.message = event.message.model_copy(deep=True)
            return
        message = self.message
        if message is None:
            raise ValueError("first event must be message_start")
        if isinstance(event, ev.RawContentBlockStartEvent):
            message.content.append(event.content_block.model_copy(deep=True))
        elif isinstance(event, ev.RawContentBlockDeltaEvent):
            self._apply_delta(message, event)
        elif isinstance(event, ev.RawContentBlockStopEvent):
            block = message.content[event.index]
            if isinstance(block, ToolUseBlock | ServerToolUseBlock) and event.index in self._json:
                raw = self._json.pop(event.index)
                block.input = json.loads(raw) if raw else {}
        elif isinstance(event, ev.RawMessageDeltaEvent):
            message.stop_reason = event.delta.stop_reason
            message.stop_sequence = event.delta.stop_sequence
            if event.delta.container is not None:
                message.container = event.delta.container
            message.usage.output_tokens = event.usage.output_tokens
            for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "server_tool_use"):
                value: Any = getattr(event.usage, name)
                if value is not None:
                    setattr(message.usage, name, value)
        elif isinstance(event, ev.RawMessageStopEvent):
            pass

    def _apply_delta(self, message: Message, event: ev.RawContentBlockDeltaEvent) -> None:
        block = message.content[event.index]
        delta = event.delta
        if isinstance(delta, ev.TextDelta) and isinstance(block, TextBlock):
            block.text += delta.text
        elif isinstance(delta, ev.InputJSONDelta) and isinstance(block, ToolUseBlock | ServerToolUseBlock):
            self._json[event.index] = self._json.get(event.index, "") + delta.partial_json
        elif isinstance(delta, ev.ThinkingDelta) and isinstance(block, ThinkingBlock):
            block.thinking += delta.thinking
        elif isinstance(delta, ev.SignatureDelta) and isinstance(block, ThinkingBlock):
            block.signature = delta.signature
        elif isinstance(delta, ev.CitationsDelta) and isinstance(block, TextBlock):
            block.citations = [*(block.citations or []), delta.citation]
        else:
            raise ValueError(f"delta {delta.type} does not fit block {block.type}")

    def result(self) -> Message:
        if self.message is None:
            raise ValueError("empty event stream")
        return self.message


def accumulate(events: Iterable[ev.RawMessageStreamEvent]) -> Message:
    acc = Accumulator()
    for event in events:
        acc.add(event)
    return acc.result()


async def accumulate_async(events: AsyncIterator[ev.RawMessageStreamEvent]) -> Message:
    acc = Accumulator()
    async for event in events:
        acc.add(event)
    return acc.result()
