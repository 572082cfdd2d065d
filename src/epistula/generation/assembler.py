"""Turn generated text and the finish into Anthropic stream events (block indexes,
stop reasons, cumulative usage). A state machine; no I/O."""

from __future__ import annotations

import json
from typing import Any

from epistula.protocol.content import TextBlock, ThinkingBlock, ToolUseBlock
from epistula.protocol.messages import ContextManagementResponse, Message, StopReason
from epistula.protocol.servertools import ServerToolUseBlock
from epistula.protocol.streaming import (
    InputJSONDelta,
    MessageDelta,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RawMessageStreamEvent,
    SignatureDelta,
    TextDelta,
    ThinkingDelta,
)
from epistula.protocol.usage import MessageDeltaUsage, Usage


class Assembler:
    def __init__(
        self,
        *,
        message_id: str,
        model: str,
        usage: Usage,
        context_management: ContextManagementResponse | None = None,
    ) -> None:
        self._context_management = context_management
        self._message_id = message_id
        self._model = model
        self._usage = usage
        self._index = -1
        self._open: str | None = None
        self.tool_uses = 0
        self._pending_ws = ""

    def start(self) -> list[RawMessageStreamEvent]:
        usage = self._usage.model_copy(update={"output_tokens": 1})
        message = Message(
            id=self._message_id,
            model=self._model,
            content=[],
            usage=usage,
            context_management=self._context_management,
        )
        return [RawMessageStartEvent(message=message)]

    def text(self, text: str) -> list[RawMessageStreamEvent]:
        """Stream text. Whitespace is held until real text follows, so that the blank
        lines a model writes around tool calls never become empty text blocks."""
        if not text:
            return []
        if self._open != "text":
            self._pending_ws += text
            if not self._pending_ws.strip():
                return []
            text, self._pending_ws = self._pending_ws, ""
            events = self._close()
            self._index += 1
            self._open = "text"
            events.append(RawContentBlockStartEvent(index=self._index, content_block=TextBlock(text="")))
            events.append(RawContentBlockDeltaEvent(index=self._index, delta=TextDelta(text=text)))
            return events
        return [RawContentBlockDeltaEvent(index=self._index, delta=TextDelta(text=text))]

    def thinking(self, text: str) -> list[RawMessageStreamEvent]:
        """Open (if needed) the thinking block and stream ``text`` into it ("" opens only)."""
        events: list[RawMessageStreamEvent] = []
        if self._open != "thinking":
            events += self._close()
            self._index += 1
            self._open = "thinking"
            start = ThinkingBlock(thinking="", signature="")
            events.append(RawContentBlockStartEvent(index=self._index, content_block=start))
        if text:
            events.append(RawContentBlockDeltaEvent(index=self._index, delta=ThinkingDelta(thinking=text)))
        return events

    def thinking_done(self, signature: str) -> list[RawMessageStreamEvent]:
        """Exactly one ``signature_delta`` immediately before the thinking block's stop."""
        events = self.thinking("")
        events.append(RawContentBlockDeltaEvent(index=self._index, delta=SignatureDelta(signature=signature)))
        events += self._close()
        return events

    def tool_use(self, tool_id: str, name: str, arguments: dict[str, Any]) -> list[RawMessageStreamEvent]:
        """A complete tool call: its own block, input streamed as JSON fragments that
        concatenate to exactly the final JSON."""
        self.tool_uses += 1
        return self._call(ToolUseBlock(id=tool_id, name=name, input={}), arguments)

    def server_tool_use(self, tool_id: str, name: str, arguments: dict[str, Any]) -> list[RawMessageStreamEvent]:
        """A call of a tool epistula runs itself (``server_tool_use``), streamed like a
        client tool call; it does not make the turn end in ``tool_use``."""
        block = ServerToolUseBlock.model_validate({"id": tool_id, "name": name, "input": {}})
        return self._call(block, arguments)

    def _call(self, start: ToolUseBlock | ServerToolUseBlock, arguments: dict[str, Any]) -> list[RawMessageStreamEvent]:
        events = self._close()
        self._index += 1
        events.append(RawContentBlockStartEvent(index=self._index, content_block=start))
        raw = json.dumps(arguments, ensure_ascii=False)
        events.append(RawContentBlockDeltaEvent(index=self._index, delta=InputJSONDelta(partial_json="")))
        step = 64
        for i in range(0, len(raw), step):
            events.append(
                RawContentBlockDeltaEvent(index=self._index, delta=InputJSONDelta(partial_json=raw[i : i + step]))
            )
        events.append(RawContentBlockStopEvent(index=self._index))
        return events

    def _close(self) -> list[RawMessageStreamEvent]:
        self._pending_ws = ""
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
                context_management=self._context_management,
            )
        )
        events.append(RawMessageStopEvent())
        return events
