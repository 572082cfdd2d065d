"""What the server benchmarks share: ``epistula serve`` as a subprocess on the default
model, with a fresh data directory, its key, and the headers a request needs."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx

KEY = "sk-bench"
MODEL = "smollm2-135m-instruct"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}  # temperature is a 2023-06-01 parameter
STARTUP_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """``VmRSS`` / ``VmHWM`` of a process, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def wait_healthy(proc: subprocess.Popen[bytes], url: str, name: str) -> None:
    """Return once ``url``/health answers 200; exit the benchmark if ``proc`` dies or never does."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{name} did not start within {STARTUP_S} s")


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
