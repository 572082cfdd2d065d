"""The Message Batches API behind the routes: create (validation), read, cancel,
delete, results. Processing is the :mod:`~epistula.batches.runner`'s job; this module
only writes requests into the store and tells the runner there is work.

What is checked when: the batch's shape, every ``custom_id`` and every ``params``
*schema* at create time (an invalid request fails the whole create with a 400 naming
``requests.N...``, so a typo never costs a day of waiting); everything that needs the
model or the engine (unknown model, ``max_tokens`` over the limit, prompt too long) at
run time, where it becomes that request's ``errored`` result.

Quotas (:class:`~epistula.storage.batches.BatchQuota`): a workspace's in-progress batches
hold at most so many open requests and so many bytes of params; a create that would pass
either gets ``429 rate_limit_error`` (the queue drains, so it is worth retrying). The
request count is checked before the requests are validated, the bytes right after.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from epistula import ids
from epistula.errors import ApiError, InvalidRequestError, NotFoundError, RateLimitError
from epistula.generation.budgets import check_batch_budget
from epistula.generation.validation import check_version_rules, format_validation_error
from epistula.protocol.batches import (
    MessageBatch,
    MessageBatchCreateParams,
    MessageBatchErroredResult,
    MessageBatchRequestCounts,
    MessageBatchSucceededResult,
)
from epistula.protocol.errors import ErrorObject, ErrorResponse
from epistula.protocol.messages import Message
from epistula.storage.batches import (
    EXPIRED_RESULT,
    BatchQuota,
    BatchRecord,
    BatchStore,
    NewRequest,
    Progress,
    RequestResult,
)
from epistula.storage.common import ListPage, QuotaExceeded, optional_rfc3339, rfc3339

BATCH_TTL = 24 * 3600
"""Requests not finished this long after creation expire."""
RESULTS_RETENTION = 29 * 86400
"""Results are purged (and ``archived_at`` set) this long after creation."""
MAX_BATCH_BODY_BYTES = 256 * 1024 * 1024
RESULTS_CHUNK = 500


class BatchEvents(Protocol):
    """What the service tells the runner (in this process)."""

    def wake(self) -> None: ...

    async def batch_canceled(self, batch_id: str) -> None: ...


def validate_create(raw: dict[str, Any], version: str) -> list[NewRequest]:
    check_batch_budget(raw)
    try:
        parsed = MessageBatchCreateParams.model_validate(raw, strict=True)  # as http.request.parse
    except ValidationError as exc:
        raise InvalidRequestError(format_validation_error(exc)) from exc
    seen: set[str] = set()
    requests: list[NewRequest] = []
    for i, (item, raw_item) in enumerate(zip(parsed.requests, raw["requests"], strict=True)):
        if item.custom_id in seen:
            raise InvalidRequestError(
                f"requests.{i}.custom_id: duplicate custom_id `{item.custom_id}`; "
                "custom_id must be unique within a batch"
            )
        seen.add(item.custom_id)
        if item.params.stream:
            raise InvalidRequestError(f"requests.{i}.params.stream: streaming is not supported in batch requests")
        raw_params = raw_item["params"]
        try:
            check_version_rules(raw_params, version)
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"requests.{i}.params.{exc.message}") from None
        requests.append(NewRequest(item.custom_id, json.dumps(raw_params, ensure_ascii=False, separators=(",", ":"))))
    return requests


@dataclass(frozen=True, slots=True)
class ValidBatch:
    """A create body's requests once validated, in the form that crosses a process boundary
    cheaply (:mod:`epistula.api.anthropic.batch_preflight` validates big bodies in a worker
    process): two lists of strings, each request's ``custom_id`` and its ``params`` as
    compact JSON text, and the bytes of those params."""

    custom_ids: list[str]
    params: list[str]
    params_bytes: int

    def requests(self) -> list[NewRequest]:
        return [NewRequest(c, p) for c, p in zip(self.custom_ids, self.params, strict=True)]


def validated_batch(raw: dict[str, Any], version: str) -> ValidBatch:
    """:func:`validate_create`'s requests, with the bytes of their params."""
    requests = validate_create(raw, version)
    params = [q.params for q in requests]
    return ValidBatch([q.custom_id for q in requests], params, sum(len(p.encode()) for p in params))


def request_count(raw: dict[str, Any]) -> int | None:
    """How many requests a create body holds (None where ``requests`` is not a list):
    what the queue quota is checked against before validation."""
    items = raw.get("requests")
    return len(items) if isinstance(items, list) else None


def message_batch(record: BatchRecord, base_url: str) -> MessageBatch:
    """The wire object. ``results_url`` is absolute, built from the URL the client used,
    because the SDK fetches it verbatim."""
    ended = record.processing_status == "ended"
    return MessageBatch(
        id=record.id,
        processing_status=record.processing_status,
        request_counts=MessageBatchRequestCounts.model_validate(record.counts, from_attributes=True),
        ended_at=optional_rfc3339(record.ended_at),
        created_at=rfc3339(record.created_at),
        expires_at=rfc3339(record.expires_at),
        archived_at=optional_rfc3339(record.archived_at),
        cancel_initiated_at=optional_rfc3339(record.cancel_initiated_at),
        results_url=f"{base_url.rstrip('/')}/v1/messages/batches/{record.id}/results" if ended else None,
    )


def succeeded_result(message: Message) -> str:
    return MessageBatchSucceededResult(message=message).model_dump_json()


def errored_result(error: ApiError, request_id: str | None = None) -> str:
    """The full error envelope, with a request id of its own (as the real API does): the
    one the item ran under, where it ran, so that the server log can be searched for it."""
    envelope = ErrorResponse(
        error=ErrorObject(type=error.error_type, message=error.message), request_id=request_id or ids.request_id()
    )
    return MessageBatchErroredResult(error=envelope).model_dump_json(exclude_none=True)


def result_line(row: RequestResult) -> bytes:
    result = row.result or EXPIRED_RESULT
    return b'{"custom_id":' + json.dumps(row.custom_id).encode() + b',"result":' + result.encode() + b"}\n"


QUOTA_RETRY_AFTER = 60.0
"""The ``retry-after`` of a create refused by the queue quota: the queue drains meanwhile."""


def quota_error(exc: QuotaExceeded) -> RateLimitError:
    what = "requests" if exc.quota == "batch_requests" else "bytes of requests"
    return RateLimitError(
        f"This batch would exceed your workspace's limit of {exc.limit:,} {what} in the batch processing "
        f"queue ({exc.used:,} queued, {exc.adding:,} in this batch). Wait for queued batches to end, "
        "or cancel some.",
        retry_after=QUOTA_RETRY_AFTER,
    )


class BatchService:
    def __init__(
        self, store: BatchStore, *, quota: BatchQuota | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._quota = quota
        self._clock = clock
        self._events: BatchEvents | None = None

    def attach(self, events: BatchEvents) -> None:
        self._events = events

    async def _check_queue(self, workspace_id: str, count: int | None) -> None:
        """Before validation: refuse a batch whose request count alone cannot fit."""
        quota = self._quota
        if quota is None or count is None:
            return
        queued = await asyncio.to_thread(self._store.queued, workspace_id)
        if quota.requests is not None and queued.requests + count > quota.requests:
            raise quota_error(QuotaExceeded("batch_requests", quota.requests, queued.requests, count))
        if quota.params_bytes is not None and queued.params_bytes >= quota.params_bytes:
            raise quota_error(QuotaExceeded("batch_bytes", quota.params_bytes, queued.params_bytes, 0))

    async def create(
        self, workspace_id: str, version: str, raw: dict[str, Any], *, key_id: str | None = None
    ) -> BatchRecord:
        """A batch from a decoded create body, validated here (in a thread)."""
        return await self.create_validated(
            workspace_id,
            version,
            request_count(raw),
            lambda: asyncio.to_thread(validated_batch, raw, version),
            key_id=key_id,
        )

    async def create_validated(
        self,
        workspace_id: str,
        version: str,
        count: int | None,
        validated: Callable[[], Awaitable[ValidBatch]],
        *,
        key_id: str | None = None,
    ) -> BatchRecord:
        """A batch of ``count`` requests (:func:`request_count`): the queue quota's request
        count is checked first, then ``validated()`` gives the requests (or raises the
        create's 400), then they are stored."""
        await self._check_queue(workspace_id, count)
        valid = await validated()
        now = self._clock()
        record = BatchRecord(
            id=ids.batch_id(),
            workspace_id=workspace_id,
            api_version=version,
            processing_status="in_progress",
            request_count=len(valid.custom_ids),
            created_at=now,
            expires_at=now + BATCH_TTL,
            created_by_key_id=key_id or None,
            params_bytes=valid.params_bytes,
        )
        try:
            await asyncio.to_thread(self._insert, record, valid)
        except QuotaExceeded as exc:
            raise quota_error(exc) from None
        if self._events is not None:
            self._events.wake()
        return record

    def _insert(self, record: BatchRecord, valid: ValidBatch) -> None:
        self._store.create_batch(record, valid.requests(), self._quota)

    async def cancel_workspace(self, workspace_id: str) -> int:
        """Cancel every batch of ``workspace_id`` that is still in progress (the workspace was
        archived: its batches stop with it); returns how many."""
        in_progress: list[str] = []
        after: str | None = None
        while True:
            page = await self.list(workspace_id, limit=1000, after_id=after)
            in_progress += [b.id for b in page.items if b.processing_status == "in_progress"]
            if not page.has_more or not page.items:
                break
            after = page.items[-1].id
        for batch_id in in_progress:
            await self.cancel(workspace_id, batch_id)
        return len(in_progress)

    async def get(self, workspace_id: str, batch_id: str) -> BatchRecord:
        record = await asyncio.to_thread(self._store.get_batch, workspace_id, batch_id)
        if record is None:
            raise NotFoundError(f"Message batch not found: {batch_id}")
        return record

    async def list(
        self, workspace_id: str, *, limit: int, before_id: str | None = None, after_id: str | None = None
    ) -> ListPage[BatchRecord]:
        return await asyncio.to_thread(
            self._store.list_batches, workspace_id, limit=limit, before_id=before_id, after_id=after_id
        )

    async def progress(self, batch_id: str) -> Progress:
        return await asyncio.to_thread(self._store.progress, batch_id)

    async def cancel(self, workspace_id: str, batch_id: str) -> BatchRecord:
        record = await asyncio.to_thread(self._store.cancel_batch, workspace_id, batch_id, self._clock())
        if record is None:
            raise NotFoundError(f"Message batch not found: {batch_id}")
        if record.processing_status == "canceling" and self._events is not None:
            await self._events.batch_canceled(batch_id)
            record = await self.get(workspace_id, batch_id)
        return record

    async def delete(self, workspace_id: str, batch_id: str) -> None:
        outcome = await asyncio.to_thread(self._store.delete_batch, workspace_id, batch_id)
        if outcome == "not_found":
            raise NotFoundError(f"Message batch not found: {batch_id}")
        if outcome == "not_ended":
            raise InvalidRequestError(
                f"Message batch {batch_id} cannot be deleted while it is still processing; cancel it first"
            )

    async def results(self, workspace_id: str, batch_id: str) -> AsyncIterator[bytes]:
        """Check first (so a refusal is a plain HTTP error), then stream JSONL in chunks."""
        record = await self.get(workspace_id, batch_id)
        if record.processing_status != "ended":
            raise InvalidRequestError(
                f"Message batch {batch_id} has not finished processing; results are available once "
                "its processing_status is `ended`"
            )
        if record.archived_at is not None:
            raise NotFoundError(f"The results of message batch {batch_id} have expired and were deleted")
        return self._lines(batch_id)

    async def _lines(self, batch_id: str) -> AsyncIterator[bytes]:
        after = -1
        while chunk := await asyncio.to_thread(self._store.results, batch_id, after_index=after, limit=RESULTS_CHUNK):
            yield b"".join(result_line(row) for row in chunk)
            after = chunk[-1].index
