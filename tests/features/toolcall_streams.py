"""Feeding ``ToolCallParser`` a stream in pieces, as the generation pipeline does."""

from __future__ import annotations

from collections.abc import Iterable

from epistula.parsing.toolcalls import ParsedEvent, TextPiece, ToolCallParser

TOOLS = ["Bash", "Read", "get_weather"]


def parse_stream(texts: Iterable[str], *, cut: bool = False) -> list[ParsedEvent]:
    """What the parser makes of text arriving in these pieces, with adjacent text merged
    (so that how the text was cut does not show); ``cut``: the token limit ended it."""
    parser = ToolCallParser(TOOLS)
    events: list[ParsedEvent] = []
    for text in texts:
        events += parser.feed(text)
    events += parser.finish(cut)
    merged: list[ParsedEvent] = []
    for event in events:
        if isinstance(event, TextPiece) and merged and isinstance(merged[-1], TextPiece):
            merged[-1] = TextPiece(merged[-1].text + event.text)
        else:
            merged.append(event)
    return merged
