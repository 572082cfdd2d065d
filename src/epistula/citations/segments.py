"""Sentence segmentation with character offsets, for documents and replies alike.

The real API chunks plain-text and PDF documents into sentences and cites whole
chunks; its example cites ``"The grass is green. "`` as characters 0-20, i.e. a
sentence *with* its trailing whitespace. :func:`segments` does the same: spans cover
a sentence and the whitespace after it, and never start with whitespace.

A sentence ends at ``.``, ``!``, ``?`` or ``…`` (optionally followed by closing quotes
or brackets) followed by whitespace, or at a line break. The boundary is only known
once the next sentence has started (the regex looks ahead for a non-space), which is
what lets a stream be cut at exactly the places the whole text would be cut.
"""

from __future__ import annotations

import re

BOUNDARY = re.compile(r"(?:[.!?\u2026]+[\"'\u201d\u2019)\]]*[ \t]+|[ \t]*\n\s*)(?=\S)")
"""The end of a sentence: its terminator and the whitespace after it, up to the next sentence."""
_LEADING_SPACE = re.compile(r"\s*")


def segments(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` spans of the sentences of ``text`` (end exclusive, trailing
    whitespace included; leading whitespace of the text belongs to no span)."""
    spans: list[tuple[int, int]] = []
    start = _LEADING_SPACE.match(text).end()  # type: ignore[union-attr]
    for match in BOUNDARY.finditer(text, start):
        if match.end() > start:
            spans.append((start, match.end()))
            start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def complete_prefix(text: str) -> int:
    """How much of a growing ``text`` is made of finished sentences (0 if none is):
    the end of the last boundary whose next sentence has already begun."""
    end = 0
    for match in BOUNDARY.finditer(text):
        end = match.end()
    return end
