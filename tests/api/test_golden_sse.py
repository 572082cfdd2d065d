"""Golden SSE transcripts: the exact bytes of a few fake-engine streams, ids normalised; and
the shape of epistula's streams compared with recorded real-API streams (tests/golden/real_api).

Regenerate after an intended wire change with ``UPDATE_GOLDEN=1 pytest tests/api/test_golden_sse.py``
and review the diff of ``tests/golden/*.sse``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import API_KEY, GOLDEN_DIR, MODEL, V2023, fake_settings, normalise_ids, parse_sse, start_server
from epistula.config import ModelConfig

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
        json={"model": MODEL, "stream": True} | case,
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


# ---------------------------------------------------------------- compared with the real API
# tests/golden/real_api/ holds real stream transcripts (the SDK's recorded fixtures, quoted by
# the wire contract §4.4-4.6). epistula's streams must have their shape: the same event
# types in the same order (runs of deltas of one type count once), a ping right after the first
# content_block_start, and at each place the real keys, plus only the newer nullable keys the
# contract documents for that place (the recordings predate them).

REAL_DIR = GOLDEN_DIR / "real_api"
NEWER_KEYS: dict[str, set[str]] = {
    "message": {"container"},  # newer fixtures carry it in message_start (spec, "Uncertain")
    "message.usage": {"server_tool_use", "inference_geo", "output_tokens_details", "speed"},  # spec §3.3
    "block.text": {"citations"},  # "newest may add citations: null" (spec §4.2)
    "message_delta.delta": {"stop_details"},  # spec §4.2 item 3
    "message_delta.usage": {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"},  # §4.3
}


def _real(name: str) -> list[tuple[str, dict[str, Any]]]:
    return parse_sse((REAL_DIR / f"{name}.sse").read_text(encoding="utf-8"))


def _keys(events: list[tuple[str, dict[str, Any]]]) -> dict[str, set[str]]:
    """The key set at each place of a stream (first occurrence of each place)."""
    places: dict[str, set[str]] = {}
    for name, data in events:
        places.setdefault(name, set(data))
        if name == "message_start":
            places.setdefault("message", set(data["message"]))
            places.setdefault("message.usage", set(data["message"]["usage"]))
        elif name == "content_block_start":
            places.setdefault(f"block.{data['content_block']['type']}", set(data["content_block"]))
        elif name == "content_block_delta":
            places.setdefault(f"delta.{data['delta']['type']}", set(data["delta"]))
        elif name in ("message_delta", "error"):
            inner = "delta" if name == "message_delta" else "error"
            places.setdefault(f"{name}.{inner}", set(data[inner]))
            if "usage" in data:
                places.setdefault(f"{name}.usage", set(data["usage"]))
    return places


def _order(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Event types in order, block and delta types attached; pings out; runs collapsed."""
    steps: list[str] = []
    for name, data in events:
        if name == "ping":
            continue
        step = name
        if name == "content_block_start":
            step += f":{data['content_block']['type']}"
        elif name == "content_block_delta":
            step += f":{data['delta']['type']}"
        if not steps or steps[-1] != step:
            steps.append(step)
    return steps


def assert_same_shape(ours: list[tuple[str, dict[str, Any]]], real: list[tuple[str, dict[str, Any]]]) -> None:
    assert _order(ours) == _order(real)
    our_keys, real_keys = _keys(ours), _keys(real)
    assert set(our_keys) == set(real_keys)
    for place, keys in real_keys.items():
        assert keys <= our_keys[place], f"{place}: real keys {sorted(keys - our_keys[place])} missing"
        extra = our_keys[place] - keys
        assert extra <= NEWER_KEYS.get(place, set()), f"{place}: keys the real API does not send: {sorted(extra)}"


def test_a_tool_use_stream_has_the_real_apis_shape(http: httpx.Client) -> None:
    ours = parse_sse(transcript(http, CASES["tool_use"]))
    real = _real("tool_use_response")
    assert_same_shape(ours, real)
    for events in (ours, real):  # the real API sends one ping, right after the first content_block_start
        assert [name for name, _ in events[1:3]] == ["content_block_start", "ping"]


def test_a_mid_stream_error_has_the_real_apis_shape(http: httpx.Client) -> None:
    ours = parse_sse(transcript(http, CASES["mid_stream_error"]))
    real = _real("mid_stream_error")
    assert ours[-1][0] == "error" and "message_stop" not in [name for name, _ in ours]
    assert_same_shape(ours[-1:], real)


@pytest.fixture(scope="module")
def reasoning_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    models = [ModelConfig(id="fake-reasoner", reasoning=True)]
    live = start_server(fake_settings(tmp_path_factory.mktemp("golden-reasoning"), models=models))
    with httpx.Client(base_url=live.base_url, timeout=30) as client:
        yield client
    live.stop()


def test_a_thinking_block_has_the_real_apis_shape(reasoning_http: httpx.Client) -> None:
    case = {
        "model": "fake-reasoner",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "#think:Let me reason... #say:Done."}],
    }
    events = parse_sse(transcript(reasoning_http, case))
    thinking = [e for e in events if e[0].startswith("content_block") and e[1]["index"] == 0]
    assert_same_shape(thinking, _real("thinking_fragment"))
