"""The real Claude Code CLI (``claude --bare -p``) against a running epistula.

Skipped where the ``claude`` command is not installed (``.ci/run`` installs it from npm).
Claude Code runs with a fresh ``HOME`` and the switches that keep all of its traffic on
epistula (../shared/research/claude-code-traffic.md); ``--output-format json`` gives its
own account of the session (exit state, turns, the usage epistula reported).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import API_KEY, LiveServer

from .conftest import KEY

CLAUDE = shutil.which("claude")
pytestmark = pytest.mark.skipif(CLAUDE is None, reason="no claude CLI (npm @anthropic-ai/claude-code)")

GUARD_S = 300
"""Only a guard against a hung process; nothing here asserts a duration."""

MAX_OUTPUT_TOKENS = "512"
"""``CLAUDE_CODE_MAX_OUTPUT_TOKENS``, as README advises for small local models: Claude Code
otherwise asks for 32,000 tokens a turn, which a rambling 135M model may fill for minutes."""


def run_claude(base_url: str, api_key: str, cwd: Path, *args: str) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd / "home"),
        "TERM": "dumb",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": api_key,
        "ANTHROPIC_MODEL": "claude-sonnet-4-6",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-haiku-4-5",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": MAX_OUTPUT_TOKENS,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    (cwd / "home").mkdir(exist_ok=True)
    assert CLAUDE is not None
    proc = subprocess.run(
        [CLAUDE, "--bare", "-p", *args, "--output-format", "json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"claude exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.mark.model
def test_claude_bare_print_mode_on_the_default_model(model_server: LiveServer, tmp_path: Path) -> None:
    """``claude --bare -p`` on SmolLM2-135M: one streamed turn (about 1k prompt tokens: a short
    system prompt, Bash/Edit/Read, adaptive thinking, max_tokens from the env) ends in a
    printed answer and exit 0."""
    result = run_claude(model_server.base_url, API_KEY, tmp_path, "Say hi")
    assert result["is_error"] is False, result
    assert result["subtype"] == "success"
    assert result["result"].strip(), result
    # The usage Claude Code reports is epistula's: the ~1k-token --bare prompt went through it.
    usage = result["usage"]
    prompt = usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
    assert prompt > 500, usage
    assert result["usage"]["output_tokens"] >= 1


def test_claude_runs_a_tool_and_sends_its_result_back(fake_url: str, tmp_path: Path) -> None:
    """A real tool round trip through the CLI, scripted by the fake engine: turn 1 streams a
    ``Read`` call; Claude Code reads the file itself and sends a ``tool_result``; turn 2 answers
    from that result (the file holds the fake engine's next directive)."""
    notes = tmp_path / "notes.txt"
    notes.write_text("#say:The notes say the build is green.\n")
    call = json.dumps({"name": "Read", "arguments": {"file_path": str(notes)}})
    prompt = f"#say:Let me read it.<tool_call>\\n{call}\\n</tool_call>"
    result = run_claude(fake_url, KEY, tmp_path, prompt, "--allowedTools", "Read")
    assert result["is_error"] is False, result
    assert result["num_turns"] == 2, result
    assert result["result"] == "The notes say the build is green."
