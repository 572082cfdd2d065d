"""What the server benchmarks share: ``epistula serve`` as a subprocess on the default
model, with a fresh data directory, its key, and the headers a request needs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))  # health.py, shared with the tests
from health import free_port
from health import wait_healthy as poll_health

KEY = "sk-bench"
MODEL = "smollm2-135m-instruct"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}  # temperature is a 2023-06-01 parameter
STARTUP_S = 300


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """``VmRSS`` / ``VmHWM`` of a process, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def wait_healthy(proc: subprocess.Popen[bytes], url: str, name: str, timeout: float = STARTUP_S) -> None:
    """Return once ``url``/health answers 200; exit the benchmark if ``proc`` dies or never does."""
    why = poll_health(proc, url, timeout, interval=0.2)
    if why is not None:
        proc.kill()
        raise SystemExit(f"{name} {why}")


def start_server(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``epistula serve --port P *args`` with ``env`` on top of this process's environment;
    returns once ``/health`` answers 200 (exits the benchmark if it never does)."""
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="epistula-bench-")
    full_env = {**os.environ, "EPISTULA_API_KEY": KEY, "EPISTULA_DATA_DIR": data_dir, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "epistula", "serve", "--port", str(port), *args],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url, "epistula serve")
    return proc, url


@contextlib.contextmanager
def server(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """:func:`start_server`, stopped on exit."""
    proc, url = start_server(*args, env=env)
    try:
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
