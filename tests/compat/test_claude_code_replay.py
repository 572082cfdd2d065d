"""Replay the requests the newest Claude Code sent (recorded by
``tests/golden/claude_code/record.py``, secrets removed) against a fake-engine server:
every one must be answered without a 4xx, streamed as Claude Code asked.

Recorded with Claude Code 2.1.332 in print mode (``-p``, a Bash tool round trip: two
requests each) for its default model (``opus-5-5``), ``claude-sonnet-4-6``,
``claude-sonnet-4-5`` and ``--bare``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import API_KEY, GOLDEN_DIR, LiveServer, fake_settings, parse_sse, start_server
from epistula.config import ModelConfig
from epistula.generation.thinking import ThinkingSigner

RECORDED = sorted((GOLDEN_DIR / "claude_code").glob("*/*.json"))
WINDOW = 262_144
"""The fake tokenizer counts bytes; Claude Code's full prompt is about 90 KB."""


@pytest.fixture(scope="module")
def big_window_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    data = tmp_path_factory.mktemp("replay")
    settings = fake_settings(data, models=[ModelConfig(id="claude-opus-5-5", context_window=WINDOW)])
    live = start_server(settings)
    yield live, data
    live.stop()


def _resign(body: dict[str, Any], signer: ThinkingSigner) -> None:
    """Thinking blocks carry the recording server's signatures; sign them as this one would."""
    for message in body["messages"]:
        if isinstance(message["content"], list):
            for block in message["content"]:
                if block.get("type") == "thinking":
                    block["signature"] = signer.sign(block["thinking"])


def test_recordings_exist() -> None:
    assert {p.parent.name for p in RECORDED} >= {"opus-5-5", "sonnet-4-6", "sonnet-4-5", "bare"}


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recorded_request_gets_no_4xx(path: Path, big_window_server: tuple[LiveServer, Path]) -> None:
    live, data = big_window_server
    entry = json.loads(path.read_text())
    headers = {k: v for k, v in entry["headers"].items() if k not in ("x-api-key", "authorization")}
    headers["x-api-key"] = API_KEY
    body = entry["body"]
    _resign(body, ThinkingSigner.from_data_dir(data))
    assert "sk-" not in json.dumps(entry["headers"])  # the recorder removed the key
    response = httpx.post(live.base_url + entry["path"], headers=headers, json=body, timeout=60)
    assert response.status_code == 200, response.text
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    # Claude Code asked for thinking: the reply opens with a signed (display: omitted) thinking block
    first = next(data for name, data in events if name == "content_block_start")
    assert first["content_block"]["type"] == "thinking"
    signature = next(
        d["delta"]["signature"]
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "signature_delta"
    )
    assert ThinkingSigner.from_data_dir(data).verify("", signature)
