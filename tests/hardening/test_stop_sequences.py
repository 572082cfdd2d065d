"""Issue 11 #13: stop sequences are bounded in count and length, and matched in one
automaton step per streamed character."""

from __future__ import annotations

import random

import httpx
import pytest

from conftest import LiveServer, body, stop_reference
from epistula.generation import stops as stops_module
from epistula.generation.stops import MAX_STOP_SEQUENCE_CHARS, MAX_STOP_SEQUENCES, StopMatcher


def _post(live: LiveServer, stop_sequences: list[str]) -> httpx.Response:
    payload = body("#say:hello", stop_sequences=stop_sequences)
    return httpx.post(f"{live.base_url}/v1/messages", json=payload, headers=live.headers(), timeout=30)


def test_too_many_stop_sequences_is_400(fake_server: LiveServer) -> None:
    resp = _post(fake_server, [f"s{i}" for i in range(MAX_STOP_SEQUENCES + 1)])
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert str(MAX_STOP_SEQUENCES) in resp.json()["error"]["message"]
    assert _post(fake_server, [f"s{i}" for i in range(MAX_STOP_SEQUENCES)]).status_code == 200


def test_too_long_stop_sequence_is_400(fake_server: LiveServer) -> None:
    resp = _post(fake_server, ["ok", "x" * (MAX_STOP_SEQUENCE_CHARS + 1)])
    assert resp.status_code == 400
    assert resp.json()["error"]["message"].startswith("stop_sequences.1:")
    assert _post(fake_server, ["x" * MAX_STOP_SEQUENCE_CHARS]).status_code == 200


@pytest.mark.parametrize("seed", range(20))
def test_many_long_overlapping_stops_match_like_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    stops = ["".join(rng.choice("ab") for _ in range(rng.randint(1, 12))) for _ in range(MAX_STOP_SEQUENCES)]
    text = "".join(rng.choice("abc") for _ in range(60))
    matcher, out = StopMatcher(stops), ""
    for i in range(0, len(text), 3):
        out += matcher.feed(text[i : i + 3])
        if matcher.matched is not None:
            break
    else:
        out += matcher.flush()
    assert (out, matcher.matched) == stop_reference(text, stops)


def test_each_character_is_one_automaton_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worst case for a naive matcher: long stops that almost match at every position."""
    steps = 0
    real_step = stops_module._Automaton.step

    def counting(self: stops_module._Automaton, state: int, char: str) -> int:
        nonlocal steps
        steps += 1
        return real_step(self, state, char)

    monkeypatch.setattr(stops_module._Automaton, "step", counting)
    long_stops = ["a" * (MAX_STOP_SEQUENCE_CHARS - 1) + chr(0x100 + i) for i in range(MAX_STOP_SEQUENCES)]
    matcher = StopMatcher(long_stops)
    streamed = 5000
    emitted = "".join(matcher.feed("a") for _ in range(streamed))
    assert steps == streamed  # held text is never re-scanned
    assert len(emitted) == streamed - (MAX_STOP_SEQUENCE_CHARS - 1)
