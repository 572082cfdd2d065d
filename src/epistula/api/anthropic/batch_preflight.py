"""A big batch-creation body (over ``PREFLIGHT_BYTES``, up to 256 MB) is decoded and
validated in the worker process (:mod:`epistula.api.workers`): ``json.loads`` and pydantic
validation of tens of thousands of requests are single C calls that would hold this
process's GIL, and stop the event loop, for seconds.

Nothing big crosses the process boundary by pickle either (pickling a 250 MB body, or
unpickling its validated requests, holds the GIL for a few hundred milliseconds): the body
goes to the worker in a scratch file, written from a thread (the write releases the GIL),
and the validated requests come back in another, one line per request (``custom_id``, a
tab, the ``params`` as compact JSON, which holds no raw tab or newline), read back from a
thread line by line. Only the verdict is pickled: the request count (the queue quota is
checked on it before validation, as for a small body), and the refusal or the bytes of
the requests' params.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from epistula.api.request import decode_json
from epistula.api.workers import Refusal, WorkerPool, attempt
from epistula.batches.service import BatchService, ValidBatch, request_count, validated_batch
from epistula.storage.batches import BatchRecord


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    """The worker's verdict on a body that decoded: how many requests it holds, and the
    refusal its validation ended in, or (the requests being in the scratch file) the bytes
    of their params."""

    count: int | None
    refusal: Refusal | None
    params_bytes: int = 0


def write_requests(path: Path, valid: ValidBatch) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for custom_id, params in zip(valid.custom_ids, valid.params, strict=True):
            out.write(f"{custom_id}\t{params}\n")


def read_requests(path: Path, params_bytes: int) -> ValidBatch:
    """:func:`write_requests`'s file, line by line (each line a few short GIL holds)."""
    custom_ids: list[str] = []
    params: list[str] = []
    with path.open(encoding="utf-8", newline="\n") as lines:
        for line in lines:
            custom_id, _, item = line.partition("\t")
            custom_ids.append(custom_id)
            params.append(item[:-1])
    return ValidBatch(custom_ids, params, params_bytes)


def checked_batch(body_path: Path, requests_path: Path, version: str) -> CheckedBatch | Refusal:
    """Run in the worker process: the body in ``body_path`` decoded (or the refusal that
    ends in) and validated; what passes is written to ``requests_path``."""
    raw = attempt(lambda: decode_json(body_path.read_bytes()))
    if isinstance(raw, Refusal):
        return raw
    count = request_count(raw)
    valid = attempt(lambda: validated_batch(raw, version))
    if isinstance(valid, Refusal):
        return CheckedBatch(count, valid)
    write_requests(requests_path, valid)
    return CheckedBatch(count, None, valid.params_bytes)


async def create_checked(
    workers: WorkerPool,
    service: Callable[[], BatchService],
    body: bytes,
    version: str,
    workspace_id: str,
    key_id: str | None,
) -> BatchRecord:
    """``service().create_validated`` for ``body``, checked in the worker process: the same
    refusals, in the same order, as :meth:`BatchService.create` on the decoded body."""
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="epistula-batch-"))
    try:
        body_path, requests_path = folder / "body.json", folder / "requests.tsv"
        await asyncio.to_thread(body_path.write_bytes, body)
        checked = await workers.run(checked_batch, body_path, requests_path, version)
        if isinstance(checked, Refusal):
            raise checked.error()

        async def validated() -> ValidBatch:
            if checked.refusal is not None:
                raise checked.refusal.error()
            return await asyncio.to_thread(read_requests, requests_path, checked.params_bytes)

        return await service().create_validated(workspace_id, version, checked.count, validated, key_id=key_id)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
