"""``StopMatcher`` (generation/stops.py): split invariance against a reference.

Reference semantics (the only ones a streaming matcher can honour): output stops at the
earliest position where *any* stop sequence has been completed; if several complete at
the same position the longest one is reported. Matched text is never emitted; text that
was held back because it might start a stop sequence is released by ``flush()``.
"""

from __future__ import annotations

import itertools
import random

import pytest

from conftest import stop_reference
from epistula.generation.stops import StopMatcher


def run(chunks: list[str], stops: list[str]) -> tuple[str, str | None]:
    """What the pipeline does: feed chunks until a match, else flush at the end."""
    matcher = StopMatcher(stops)
    out = ""
    for chunk in chunks:
        out += matcher.feed(chunk)
        if matcher.matched is not None:
            return out, matcher.matched
    return out + matcher.flush(), None


def chunkings(text: str) -> list[list[str]]:
    """Every way of cutting ``text`` into consecutive non-empty pieces."""
    result = []
    n = len(text)
    for cuts in itertools.product([False, True], repeat=max(n - 1, 0)):
        pieces, start = [], 0
        for i, cut in enumerate(cuts, start=1):
            if cut:
                pieces.append(text[start:i])
                start = i
        pieces.append(text[start:])
        result.append(pieces)
    return result


CASES = [
    ("Hello STOP world", ["STOP"]),
    ("one two three", ["three", "two"]),
    ("aaab", ["aab"]),
    ("abababc", ["ababc"]),
    ("the end is ne", ["near"]),
    ("café→bar", ["→"]),
    ("line\nnext", ["\n"]),
    ("xabcdy", ["abcd", "c"]),
    ("say END now", ["END", "EN"]),
    ("\n\nHuman: hi", ["\n\nHuman:", "Human:"]),
    ("no match here", ["zz", "q"]),
    ("STOP", ["STOP"]),
    ("", ["x"]),
]


@pytest.mark.parametrize(("text", "stops"), CASES)
def test_every_chunking_gives_the_reference_result(text: str, stops: list[str]) -> None:
    expected = stop_reference(text, stops)
    for pieces in chunkings(text) if len(text) <= 14 else [[text], list(text)]:
        assert run(pieces, stops) == expected, pieces


@pytest.mark.parametrize(("text", "stops"), CASES)
def test_whole_text_and_char_by_char_agree(text: str, stops: list[str]) -> None:
    assert run([text], stops) == run(list(text), stops)


def test_random_texts_are_split_invariant() -> None:
    rng = random.Random(20261121)
    for _ in range(250):
        text = "".join(rng.choice("abc") for _ in range(rng.randint(0, 9)))
        stops = ["".join(rng.choice("abc") for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 3))]
        expected = stop_reference(text, stops)
        for pieces in chunkings(text):
            assert run(pieces, stops) == expected, (text, stops, pieces)


def test_no_stop_sequences_pass_text_through_immediately() -> None:
    matcher = StopMatcher(None)
    assert matcher.feed("abc") == "abc"
    assert matcher.flush() == ""
    assert matcher.matched is None


def test_empty_stop_sequences_are_ignored() -> None:
    matcher = StopMatcher([""])
    assert matcher.feed("abc") == "abc"
    assert matcher.matched is None


def test_possible_prefix_is_held_back_until_resolved() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("go ST") == "go "
    assert matcher.feed("O") == ""
    assert matcher.feed("P!") == ""
    assert matcher.matched == "STOP"


def test_held_text_is_released_when_it_cannot_be_a_stop() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("ST") == ""
    assert matcher.feed("ART") == "START"
    assert matcher.matched is None
    assert matcher.flush() == ""


def test_flush_releases_a_trailing_partial_match() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("end STO") == "end "
    assert matcher.flush() == "STO"
    assert matcher.matched is None
