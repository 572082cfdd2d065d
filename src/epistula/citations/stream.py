"""Citations as a transformation of the message event stream.

The generation pipeline knows nothing about citations; this transformer sits between
it and whoever consumes the events (the SSE encoder, or the fold that builds a
non-streaming ``Message`` or a batch result, which therefore get the same citations).

Text blocks are re-cut at sentence boundaries (:mod:`.segments`). Each finished
sentence is aligned with the documents (:mod:`.align`); a sentence that cites becomes
a text block of its own, opened with ``"citations": []``, carrying one
``citations_delta`` per citation and then the sentence as a ``text_delta`` -- as the
real API shapes cited text. Sentences that cite nothing are streamed into ordinary
text blocks (``"citations": null``). Other blocks (thinking, tool use) pass through
with their indexes renumbered. Concatenating the text of the output blocks gives
exactly the text of the input blocks.

Text is held back until its sentence ends (the citation decision needs the whole
sentence), or until :data:`MAX_HELD_CHARS` accumulate without a boundary.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

from epistula.protocol.content import TextBlock, TextCitation
from epistula.protocol.messages import PromptParams
from epistula.protocol.streaming import (
    CitationsDelta,
    RawContentBlockDeltaEvent,
    RawContentBlockEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageStreamEvent,
    TextDelta,
)

from .align import Aligner
from .segments import complete_prefix, segments
from .sources import Chunk, citable_chunks

MAX_HELD_CHARS = 600


class _Recut:
    """The output side: block indexes and the text block currently open."""

    def __init__(self, aligner: Aligner) -> None:
        self._aligner = aligner
        self.index = -1
        self._open: str | None = None  # "plain" | "cited" | "other"
        self._held_space = ""

    def close(self) -> list[RawMessageStreamEvent]:
        self._held_space = ""
        if self._open is None:
            return []
        self._open = None
        return [RawContentBlockStopEvent(index=self.index)]

    def other(self, event: RawContentBlockEvent) -> list[RawMessageStreamEvent]:
        """A non-text block's event, renumbered."""
        if isinstance(event, RawContentBlockStartEvent):
            events = self.close()
            self.index += 1
            self._open = "other"
            return [*events, event.model_copy(update={"index": self.index})]
        if isinstance(event, RawContentBlockStopEvent):
            return self.close()
        return [event.model_copy(update={"index": self.index})]

    def sentence(self, text: str) -> list[RawMessageStreamEvent]:
        if not text.strip():
            if self._open in ("plain", "cited"):
                return [RawContentBlockDeltaEvent(index=self.index, delta=TextDelta(text=text))]
            self._held_space += text  # never a whitespace-only block
            return []
        text, self._held_space = self._held_space + text, ""
        alignment = self._aligner.align(text)
        end = len(text) if alignment.end is None else alignment.end
        events: list[RawMessageStreamEvent] = []
        if alignment.lead:  # clauses before the reused words are not cited
            events += self._open_block(text[: alignment.lead], [])
        events += self._open_block(text[alignment.lead : end], alignment.citations)
        if end < len(text):  # nor are clauses after them
            events += self._open_block(text[end:], [])
        return events

    def _open_block(self, text: str, citations: list[TextCitation]) -> list[RawMessageStreamEvent]:
        if not citations and self._open == "plain":
            return [RawContentBlockDeltaEvent(index=self.index, delta=TextDelta(text=text))]
        events = self.close()
        self.index += 1
        self._open = "cited" if citations else "plain"
        block = TextBlock(text="", citations=[] if citations else None)
        events.append(RawContentBlockStartEvent(index=self.index, content_block=block))
        events += [RawContentBlockDeltaEvent(index=self.index, delta=CitationsDelta(citation=c)) for c in citations]
        events.append(RawContentBlockDeltaEvent(index=self.index, delta=TextDelta(text=text)))
        return events


async def cite_events(
    events: AsyncIterator[RawMessageStreamEvent], aligner: Aligner
) -> AsyncGenerator[RawMessageStreamEvent]:
    """``events`` with text blocks re-cut into cited and uncited blocks."""
    out = _Recut(aligner)
    held: str | None = None  # text of the input text block being read (None: not in one)
    try:
        async for event in events:
            if isinstance(event, RawContentBlockStartEvent) and isinstance(event.content_block, TextBlock):
                held = event.content_block.text
                for ev in out.close():
                    yield ev
            elif held is not None and isinstance(event, RawContentBlockDeltaEvent):
                if isinstance(event.delta, TextDelta):
                    held += event.delta.text
                    cut = complete_prefix(held)
                    if cut == 0 and len(held) > MAX_HELD_CHARS:
                        cut = held.rfind(" ") + 1 or len(held)
                    if cut:
                        done, held = held[:cut], held[cut:]
                        for ev in _sentences(out, done):
                            yield ev
            elif held is not None and isinstance(event, RawContentBlockStopEvent):
                for ev in _sentences(out, held):
                    yield ev
                for ev in out.close():
                    yield ev
                held = None
            elif isinstance(event, RawContentBlockEvent):
                for ev in out.other(event):
                    yield ev
            else:  # message_start, message_delta, message_stop
                yield event
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]


def _sentences(out: _Recut, text: str) -> list[RawMessageStreamEvent]:
    events: list[RawMessageStreamEvent] = []
    position = 0
    for start, end in segments(text):
        if start > position:  # leading whitespace of a block
            events += out.sentence(text[position:start])
        events += out.sentence(text[start:end])
        position = end
    if position < len(text):
        events += out.sentence(text[position:])
    return events


def with_citations(
    events: AsyncIterator[RawMessageStreamEvent], params: PromptParams, extra: Sequence[Chunk] = ()
) -> AsyncIterator[RawMessageStreamEvent]:
    """``events`` unchanged unless some document of ``params`` has citations enabled, or
    ``extra`` holds chunks (web search results, always citable) after the documents'."""
    chunks = [*citable_chunks(params), *extra]
    if not chunks:
        return events
    return cite_events(events, Aligner(chunks))
