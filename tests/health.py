"""Waiting for a server started as a subprocess: the one health poll shared by the
process tests (:mod:`processes`), the recording scripts, the benchmarks and
``scripts/replicas.py`` (which put this folder on ``sys.path``)."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    proc: subprocess.Popen[bytes], url: str, timeout: float, interval: float = 0.1, probe_timeout: float = 1.0
) -> str | None:
    """Poll ``url``/health until it answers 200 and return None; return why not instead
    (``exited with N`` when ``proc`` ends, ``did not start within T s`` at ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            return f"exited with {proc.returncode}"
        try:
            if httpx.get(f"{url}/health", timeout=probe_timeout).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            return f"did not start within {timeout:g} s"
        time.sleep(interval)
