"""Turn generated text and the finish into Anthropic stream events (block indexes,
stop reasons, cumulative usage). A state machine; no I/O."""

from __future__ import annotations

from epistula.protocol.content import TextBlock
from epistula.protocol.messages import Message, StopReason
from epistula.protocol.streaming import (
    MessageDelta,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RawMessageStreamEvent,
    TextDelta,
)
from epistula.protocol.usage import MessageDeltaUsage, Usage


class Assembler:
    def __init__(self, *, message_id: str, model: str, usage: Usage) -> None:
        self._message_id = message_id
        self._model = model
        self._usage = usage
        self._index = -1
        self._open: str | None = None

    def start(self) -> list[RawMessageStreamEvent]:
        usage = self._usage.model_copy(update={"output_tokens": 1})
        message = Message(id=self._message_id, model=self._model, content=[], usage=usage)
        return [RawMessageStartEvent(message=message)]

    def text(self, text: str) -> list[RawMessageStreamEvent]:
        if not text:
            return []
        events: list[RawMessageStreamEvent] = []
        if self._open != "text":
            events += self._close()
            self._index += 1
            self._open = "text"
            events.append(
                RawContentBlockStartEvent(index=self._index, content_block=TextBlock(text=""))
            )
        events.append(RawContentBlockDeltaEvent(index=self._index, delta=TextDelta(text=text)))
        return events

    def _close(self) -> list[RawMessageStreamEvent]:
        if self._open is None:
            return []
        self._open = None
        return [RawContentBlockStopEvent(index=self._index)]

    def finish(
        self, stop_reason: StopReason, *, output_tokens: int, stop_sequence: str | None = None
    ) -> list[RawMessageStreamEvent]:
        events = self._close()
        events.append(
            RawMessageDeltaEvent(
                delta=MessageDelta(stop_reason=stop_reason, stop_sequence=stop_sequence),
                usage=MessageDeltaUsage(
                    input_tokens=self._usage.input_tokens,
                    output_tokens=output_tokens,
                    cache_creation_input_tokens=self._usage.cache_creation_input_tokens,
                    cache_read_input_tokens=self._usage.cache_read_input_tokens,
                ),
            )
        )
        events.append(RawMessageStopEvent())
        return events
