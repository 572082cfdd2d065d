"""SIGKILL the server in the middle of a batch, start it again, and check that the batch
still ends with every request answered exactly once.

The server is a real ``epistula serve --engine fake`` subprocess: killing a thread would
not prove anything about locks and transactions that a dead process leaves behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import anthropic
import httpx
import pytest

from .support import BACKENDS, database_url

KEY = "sk-crash-test"
N = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, db_url: str | None, log: IO[bytes]) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EPISTULA_")}
        env.update(EPISTULA_DATA_DIR=str(data_dir), EPISTULA_API_KEY=KEY, EPISTULA_LOG_LEVEL="warning")
        if db_url:
            env["EPISTULA_DATABASE_URL"] = db_url
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "epistula", "serve", "--engine", "fake", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode} during startup")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not start within 60 s")
            time.sleep(0.1)

    def client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.base_url, api_key=KEY, max_retries=0, timeout=10)

    def progress(self, batch_id: str) -> tuple[int, int]:
        resp = httpx.get(
            f"{self.base_url}/v1/messages/batches/{batch_id}",
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
            timeout=5,
        )
        done, total = resp.headers["x-epistula-batch-progress"].split("/")
        return int(done), int(total)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_mid_batch_then_restart_answers_every_request_once(tmp_path: Path, backend: str) -> None:
    requests: list[Any] = [
        {
            "custom_id": f"req-{i:02d}",
            "params": {
                "model": "claude-haiku-4-5",
                "max_tokens": 64,
                # ~20 tokens at 30 ms each: 0.6 s per request, 4 at a time -> ~4.5 s in all
                "messages": [{"role": "user", "content": f"#slow:30 #say:answer-{i:02d}-xxxxxxxxxx"}],
            },
        }
        for i in range(N)
    ]
    with database_url(backend) as db_url, (tmp_path / "server.log").open("wb") as log:
        first = Server(tmp_path / "data", db_url, log)
        try:
            batch = first.client().messages.batches.create(requests=requests)
            deadline = time.monotonic() + 30
            while (done := first.progress(batch.id)[0]) < 6:
                assert time.monotonic() < deadline, "the batch made no progress"
                time.sleep(0.05)
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(timeout=10)
        finally:
            first.stop()
        assert done < N, "the batch finished before the kill; the test proves nothing"

        second = Server(tmp_path / "data", db_url, log)
        try:
            client = second.client()
            deadline = time.monotonic() + 60
            while (current := client.messages.batches.retrieve(batch.id)).processing_status != "ended":
                assert time.monotonic() < deadline, f"batch did not end after the restart: {current}"
                time.sleep(0.1)
            counts = current.request_counts
            assert (counts.succeeded, counts.errored, counts.canceled, counts.expired) == (N, 0, 0, 0)
            lines = list(client.messages.batches.results(batch.id))
        finally:
            second.stop()

    custom_ids = [line.custom_id for line in lines]
    assert len(custom_ids) == N and len(set(custom_ids)) == N
    for line in lines:
        assert line.result.type == "succeeded"
        i = line.custom_id.removeprefix("req-")
        assert line.result.message.content[0].to_dict()["text"] == f"answer-{i}-xxxxxxxxxx"
