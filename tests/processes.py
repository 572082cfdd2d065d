"""``epistula serve`` as a real subprocess, for what a thread cannot show: the CLI's own
logging setup, several replicas sharing one Redis or database, a server killed mid-batch.

The server's stderr (its log) goes to ``stderr.log`` in its working directory, appended
to by every server started there (a restart keeps its data and its log); its environment
is the test's minus every ``EPISTULA_*`` variable, plus what the test passes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anthropic

from health import free_port, wait_healthy

KEY = "sk-process-test"


class ServeProcess:
    def __init__(self, workdir: Path, *args: str, env: dict[str, str] | None = None, wait: bool = True) -> None:
        """Start the server; with ``wait=False`` call :meth:`wait_ready` later (start several at once)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "stderr.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("EPISTULA_")}
        full_env.update(EPISTULA_DATA_DIR=str(workdir / "data"), EPISTULA_API_KEY=KEY, **(env or {}))
        command = [sys.executable, "-m", "epistula", "serve", "--engine", "fake", "--port", str(self.port), *args]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, env=full_env, stdout=subprocess.DEVNULL, stderr=log)
        if wait:
            self.wait_ready()

    def wait_ready(self, startup: float = 60.0) -> None:
        why = wait_healthy(self.proc, self.base_url, startup)
        if why is not None:
            self.stop()
            raise AssertionError(f"server {why}:\n{self.log()}")

    def headers(self) -> dict[str, str]:
        return {"x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}

    def client(self, **kwargs: object) -> anthropic.Anthropic:
        options: dict[str, object] = {"max_retries": 0, "timeout": 30.0, **kwargs}
        return anthropic.Anthropic(base_url=self.base_url, api_key=KEY, **options)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
