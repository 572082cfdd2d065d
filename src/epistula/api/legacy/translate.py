"""The message event stream (or its fold) as Text Completions output.

Only text reaches a completion; thinking is not part of this legacy format. A message
that ends its turn on its own counts as having hit the implicit ``\\n\\nHuman:`` stop
sequence (that is what ending the turn means in this format), so ``stop_reason`` is
always ``stop_sequence`` or ``max_tokens``, as on the real API.
"""

from __future__ import annotations

from pydantic import BaseModel

from epistula.api.legacy.prompt import HUMAN_PROMPT, Conversation
from epistula.api.legacy.protocol import Completion, CompletionStopReason
from epistula.protocol.content import TextBlock
from epistula.protocol.messages import Message, StopReason
from epistula.protocol.streaming import (
    PingEvent,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawMessageDeltaEvent,
    RawMessageStreamEvent,
    TextDelta,
)


def leading_text(conversation: Conversation) -> str:
    """What precedes the model's text. Claude wrote ``"\\n\\nAssistant: Hi"``, so its
    completions start with a space; clients that append the completion to the prompt to
    build the next turn rely on it. After a prefill the model continues it verbatim."""
    return "" if conversation.prefill else " "


def stop_of(reason: StopReason | None, sequence: str | None) -> tuple[CompletionStopReason, str | None]:
    if reason in ("max_tokens", "model_context_window_exceeded"):
        return "max_tokens", None
    if reason == "stop_sequence" and sequence is not None:
        return "stop_sequence", sequence
    return "stop_sequence", HUMAN_PROMPT


def completion_of(message: Message, *, completion_id: str, lead: str) -> Completion:
    text = "".join(block.text for block in message.content if isinstance(block, TextBlock))
    reason, stop = stop_of(message.stop_reason, message.stop_sequence)
    if text and lead and not text[0].isspace():
        text = lead + text
    return Completion(id=completion_id, completion=text, stop_reason=reason, model=message.model, stop=stop)


class CompletionStream:
    """Maps message events to ``completion`` events: incremental text, a ``ping`` after the
    first one (as the real API sends), and a final empty ``completion`` carrying the stop."""

    def __init__(self, *, completion_id: str, model: str, lead: str) -> None:
        self._id = completion_id
        self._model = model
        self._lead = lead
        self._text_blocks: set[int] = set()
        self._sent_text = False

    def feed(self, event: RawMessageStreamEvent) -> list[BaseModel]:
        if isinstance(event, RawContentBlockStartEvent) and isinstance(event.content_block, TextBlock):
            self._text_blocks.add(event.index)
        elif (
            isinstance(event, RawContentBlockDeltaEvent)
            and isinstance(event.delta, TextDelta)
            and event.index in self._text_blocks
            and event.delta.text
        ):
            text = event.delta.text
            if self._sent_text:
                return [Completion(id=self._id, completion=text, model=self._model)]
            self._sent_text = True
            if self._lead and not text[0].isspace():
                text = self._lead + text
            return [Completion(id=self._id, completion=text, model=self._model), PingEvent()]
        elif isinstance(event, RawMessageDeltaEvent):
            reason, stop = stop_of(event.delta.stop_reason, event.delta.stop_sequence)
            return [Completion(id=self._id, completion="", stop_reason=reason, model=self._model, stop=stop)]
        return []
