"""``epistula claude`` with a fake ``claude`` on PATH."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import API_KEY, LiveServer
from epistula.cli import claude as launch

FAKE_CLAUDE = """#!/bin/sh
python3 - "$@" <<'PY'
import json, os, sys
keys = [k for k in os.environ if k.startswith(("ANTHROPIC_", "CLAUDE_CODE_", "DISABLE_"))]
out = {"args": sys.argv[1:], "env": {k: os.environ[k] for k in keys}}
with open(os.environ["FAKE_CLAUDE_OUT"], "w") as f:
    json.dump(out, f)
PY
exit 7
"""


def _bin(tmp_path: Path, with_claude: bool = True) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    if with_claude:
        script = bindir / "claude"
        script.write_text(FAKE_CLAUDE)
        script.chmod(0o755)
    return bindir


def _run(tmp_path: Path, *args: str, with_claude: bool = True) -> tuple[subprocess.CompletedProcess[str], Any]:
    out = tmp_path / "claude.json"
    env = {
        **os.environ,
        "PATH": f"{_bin(tmp_path, with_claude)}:/usr/bin:/bin",
        "FAKE_CLAUDE_OUT": str(out),
        "EPISTULA_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("EPISTULA_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "epistula", "claude", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, json.loads(out.read_text()) if out.exists() else None


def test_missing_claude_is_a_clear_error(tmp_path: Path) -> None:
    done, seen = _run(tmp_path, "--base-url", "http://127.0.0.1:9", with_claude=False)
    assert done.returncode == 127 and seen is None
    assert "npm install -g @anthropic-ai/claude-code" in done.stderr


def test_reuses_a_running_server_and_adds_bare_on_a_small_window(fake_server: LiveServer, tmp_path: Path) -> None:
    done, seen = _run(tmp_path, "--base-url", fake_server.base_url, "--api-key", API_KEY, "--", "-p", "Say hi")
    assert done.returncode == 7  # claude's own status
    assert seen["args"] == ["--bare", "-p", "Say hi"]
    assert "8,192-token window" in done.stderr and "--bare" in done.stderr and "32k" in done.stderr
    env = seen["env"]
    model = fake_server.model_id
    assert env["ANTHROPIC_BASE_URL"] == fake_server.base_url and env["ANTHROPIC_API_KEY"] == API_KEY
    for tier in ("OPUS", "SONNET", "HAIKU"):
        assert env[f"ANTHROPIC_DEFAULT_{tier}_MODEL"] == model
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "512"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"


def test_bare_given_by_the_user_is_not_doubled(fake_server: LiveServer, tmp_path: Path) -> None:
    done, seen = _run(tmp_path, "--base-url", fake_server.base_url, "--api-key", API_KEY, "--bare", "-p", "x")
    assert seen["args"] == ["--bare", "-p", "x"] and "window" not in done.stderr


def test_running_server_needs_its_key(fake_server: LiveServer, tmp_path: Path) -> None:
    done, seen = _run(tmp_path, "--base-url", fake_server.base_url)
    assert done.returncode == 1 and seen is None and "--api-key" in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_starts_a_server_when_none_answers_and_stops_it(tmp_path: Path) -> None:
    base_url = f"http://127.0.0.1:{_free_port()}"
    done, seen = _run(tmp_path, "--base-url", base_url, "--engine", "fake", "-p", "hi")
    assert done.returncode == 7, done.stderr
    assert "starting epistula" in done.stderr
    assert seen["env"]["ANTHROPIC_BASE_URL"] == base_url
    assert seen["env"]["ANTHROPIC_API_KEY"].startswith("sk-epistula-")
    assert seen["args"][0] == "--bare"
    assert launch.probe(base_url) is None  # stopped again


@pytest.mark.parametrize(("window", "cap", "bare"), [(8192, 512, True), (32768, 2048, False), (131072, 8192, False)])
def test_output_cap_and_bare_by_window(window: int, cap: int, bare: bool) -> None:
    assert launch.output_cap(window, 128_000) == cap
    assert launch.needs_bare(window, ["-p", "x"]) is bare
    assert launch.output_cap(window, 300) == 300
