"""Golden SSE transcripts: the exact bytes of a few fake-engine streams, ids normalised.

Regenerate after an intended wire change with ``UPDATE_GOLDEN=1 pytest tests/api/test_golden_sse.py``
and review the diff of ``tests/golden/*.sse``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import API_KEY, GOLDEN_DIR, MODEL, V2023, normalise_ids, parse_sse

CASES: dict[str, dict[str, Any]] = {
    "plain": {"messages": [{"role": "user", "content": "#say:Hello, world!"}], "max_tokens": 64},
    "stop_sequence": {
        "messages": [{"role": "user", "content": "#say:one, two, three"}],
        "max_tokens": 64,
        "stop_sequences": ["three", "two"],
    },
    "max_tokens": {"messages": [{"role": "user", "content": "#say:abcdefghij"}], "max_tokens": 4},
    "mid_stream_error": {"messages": [{"role": "user", "content": "#say:abcdef #fail-after:3"}], "max_tokens": 64},
    "unicode": {"messages": [{"role": "user", "content": "#say:é✓"}], "max_tokens": 64},
    "tool_use": {
        "messages": [
            {
                "role": "user",
                "content": '#say:Sure. <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
            }
        ],
        "max_tokens": 200,
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
    },
}


def transcript(http: httpx.Client, case: dict[str, Any]) -> str:
    resp = http.post(
        "/v1/messages",
        json={"model": MODEL, "stream": True, **case},
        headers={"x-api-key": API_KEY, "anthropic-version": V2023},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
    return normalise_ids(resp.text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_sse_transcript_matches_golden(http: httpx.Client, update_golden: bool, name: str) -> None:
    actual = transcript(http, CASES[name])
    parse_sse(actual)  # framing is valid
    path = GOLDEN_DIR / f"{name}.sse"
    if update_golden:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name}.sse differs from the golden transcript (UPDATE_GOLDEN=1 regenerates)"


def test_golden_transcripts_are_deterministic(http: httpx.Client) -> None:
    """Two runs of the same request give identical normalised transcripts (ids only differ)."""
    first, second = transcript(http, CASES["plain"]), transcript(http, CASES["plain"])
    assert first == second
    raw = http.post(
        "/v1/messages",
        json={"model": MODEL, "stream": True, **CASES["plain"]},
        headers={"x-api-key": API_KEY, "anthropic-version": V2023},
    ).text
    assert raw != first, "normalisation did not replace any id"


def test_every_golden_file_has_a_case() -> None:
    files = {p.stem for p in GOLDEN_DIR.glob("*.sse")}
    assert files <= set(CASES), f"stale golden files: {files - set(CASES)}"
