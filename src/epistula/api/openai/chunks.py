"""Our message event stream as ``chat.completion.chunk`` objects.

The first chunk announces the assistant role; text deltas become ``content`` deltas; a
``tool_use`` block becomes a tool call (its id and name first, then its arguments as the
``input_json_delta`` fragments arrive, so concatenating them gives the same JSON); the
``message_delta`` becomes the chunk with ``finish_reason``; with
``stream_options.include_usage`` one last chunk with no choices carries the usage.
"""

from __future__ import annotations

from epistula.api.openai.protocol import (
    ChatCompletionChunk,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ChunkChoice,
)
from epistula.api.openai.response import completion_usage, finish_reason
from epistula.protocol.content import ToolUseBlock
from epistula.protocol.streaming import (
    InputJSONDelta,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RawMessageStreamEvent,
    TextDelta,
)
from epistula.protocol.usage import Usage


class ChunkStream:
    def __init__(self, *, id: str, created: int, model: str, include_usage: bool) -> None:
        self._id = id
        self._created = created
        self._model = model
        self._include_usage = include_usage
        self._tool_calls: dict[int, int] = {}
        """Content block index -> position in ``tool_calls``."""
        self._usage: Usage | None = None

    def _chunk(self, delta: ChoiceDelta, finish: RawMessageDeltaEvent | None = None) -> ChatCompletionChunk:
        reason = finish_reason(finish.delta.stop_reason) if finish is not None else None
        choice = ChunkChoice(delta=delta, finish_reason=reason)
        return ChatCompletionChunk(id=self._id, created=self._created, model=self._model, choices=[choice])

    def feed(self, event: RawMessageStreamEvent) -> list[ChatCompletionChunk]:
        if isinstance(event, RawMessageStartEvent):
            self._usage = event.message.usage.model_copy()
            return [self._chunk(ChoiceDelta(role="assistant", content=""))]
        if isinstance(event, RawContentBlockStartEvent) and isinstance(event.content_block, ToolUseBlock):
            position = self._tool_calls[event.index] = len(self._tool_calls)
            block = event.content_block
            call = ChoiceDeltaToolCall(
                index=position,
                id=block.id,
                type="function",
                function=ChoiceDeltaToolCallFunction(name=block.name, arguments=""),
            )
            return [self._chunk(ChoiceDelta(tool_calls=[call]))]
        if isinstance(event, RawContentBlockDeltaEvent):
            delta = event.delta
            if isinstance(delta, TextDelta) and delta.text:
                return [self._chunk(ChoiceDelta(content=delta.text))]
            if isinstance(delta, InputJSONDelta) and delta.partial_json and event.index in self._tool_calls:
                call = ChoiceDeltaToolCall(
                    index=self._tool_calls[event.index],
                    function=ChoiceDeltaToolCallFunction(arguments=delta.partial_json),
                )
                return [self._chunk(ChoiceDelta(tool_calls=[call]))]
            return []  # thinking, signatures and citations have no place in this format
        if isinstance(event, RawMessageDeltaEvent):
            if self._usage is not None:
                update = {"output_tokens": event.usage.output_tokens}
                for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
                    if (value := getattr(event.usage, name)) is not None:
                        update[name] = value
                self._usage = self._usage.model_copy(update=update)
            return [self._chunk(ChoiceDelta(), finish=event)]
        if isinstance(event, RawMessageStopEvent) and self._include_usage and self._usage is not None:
            return [
                ChatCompletionChunk(
                    id=self._id,
                    created=self._created,
                    model=self._model,
                    choices=[],
                    usage=completion_usage(self._usage),
                )
            ]
        return []
