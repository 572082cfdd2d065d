"""The console's JavaScript run for real, without a browser: Node.js loads the very
modules the pages load and drives the live server through them (sign-in, workspaces,
keys, the streamed playground, usage and cost reports, /metrics), checking what the
pages would show and what went over the wire. Skipped where Node.js 18+ is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import LiveServer

from .conftest import ADMIN_KEY, STATIC_DIR

HERE = Path(__file__).parent
NODE = shutil.which("node")


def _node_major() -> int:
    if NODE is None:
        return 0
    out = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=False).stdout
    return int(out.strip().lstrip("v").split(".")[0] or 0)


pytestmark = pytest.mark.skipif(_node_major() < 18, reason="Node.js 18+ (fetch, ReadableStream) is not installed")


def run_node(script: str, *args: str) -> dict[str, object]:
    assert NODE is not None
    proc = subprocess.run([NODE, str(HERE / script), *args], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stderr}\n{proc.stdout}"
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("module", sorted(str(p.relative_to(STATIC_DIR)) for p in STATIC_DIR.rglob("*.mjs")))
def test_module_syntax(module: str) -> None:
    assert NODE is not None
    proc = subprocess.run([NODE, "--check", str(STATIC_DIR / module)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_helpers_and_module_graph() -> None:
    assert run_node("console_units.mjs", str(STATIC_DIR))["ok"] is True


def test_the_console_scripts_against_a_live_server(console_server: LiveServer) -> None:
    result = run_node("console_e2e.mjs", str(STATIC_DIR), console_server.base_url, ADMIN_KEY)
    assert result["ok"] is True
    assert isinstance(result["requests"], int) and result["requests"] > 20
