"""SIGKILL the server in the middle of a batch, start it again, and check that the batch
still ends with every request answered exactly once.

The server is a real ``epistula serve --engine fake`` subprocess: killing a thread would
not prove anything about locks and transactions that a dead process leaves behind.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from processes import ServeProcess

from .support import BACKENDS, batch_request, database_url

N = 30


def progress(server: ServeProcess, batch_id: str) -> tuple[int, int]:
    resp = httpx.get(f"{server.base_url}/v1/messages/batches/{batch_id}", headers=server.headers(), timeout=5)
    done, total = resp.headers["x-epistula-batch-progress"].split("/")
    return int(done), int(total)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_mid_batch_then_restart_answers_every_request_once(tmp_path: Path, backend: str) -> None:
    # ~20 tokens at 30 ms each: 0.6 s per request, 4 at a time -> ~4.5 s in all
    requests = [batch_request(f"req-{i:02d}", f"#slow:30 #say:answer-{i:02d}-xxxxxxxxxx", 64) for i in range(N)]
    with database_url(backend) as db_url:
        env = {"EPISTULA_LOG_LEVEL": "warning", **({"EPISTULA_DATABASE_URL": db_url} if db_url else {})}
        first = ServeProcess(tmp_path, env=env)
        try:
            batch = first.client(timeout=10).messages.batches.create(requests=requests)  # type: ignore[arg-type]
            deadline = time.monotonic() + 30
            while (done := progress(first, batch.id)[0]) < 6:
                assert time.monotonic() < deadline, "the batch made no progress"
                time.sleep(0.05)
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(timeout=10)
        finally:
            first.stop()
        assert done < N, "the batch finished before the kill; the test proves nothing"

        second = ServeProcess(tmp_path, env=env)
        try:
            client = second.client(timeout=10)
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
