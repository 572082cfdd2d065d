"""The batch worker: a task in the server's event loop that claims pending requests and
runs them on the same engines as live traffic, a few at a time.

Why it is shaped this way:

* **Same code path as ``POST /v1/messages``.** A batch request goes through the same
  :class:`~epistula.generation.service.MessageService` as live traffic, and its result is
  ``accumulate_async`` of the event stream -- the non-streaming response is a fold of the
  event stream -- so batch results can never drift from live responses.
* **Live traffic first, at the engine's batched throughput.** At most ``concurrency``
  batch requests run at once -- by default the engine's sequence slots less a quarter
  (:func:`epistula.config.default_batch_concurrency`: 12 of 16), because batched decoding
  is much faster per token with many sequences -- and each one reaches the engine with a
  *lower* scheduling priority (:data:`BATCH_PRIORITY`; lower numbers run first), so live
  requests find free slots at once and, beyond those, are admitted ahead of batch ones.
* **Crash safety lives in the store.** A claim marks a request ``running`` with this
  worker's id; the result and the ``done`` mark are written in one transaction that
  only succeeds while this worker still owns the request. A worker that dies (even
  SIGKILL) loses its liveness lock, and the next maintenance pass anywhere -- including
  the restarted server's first one -- resets its requests to pending. Every request is
  therefore answered exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

from pydantic import ValidationError

from epistula import ids
from epistula.auth.keys import Principal
from epistula.errors import ApiError, InternalServerError, InvalidRequestError, OverloadedError, RateLimitError
from epistula.files.service import FileService
from epistula.generation.accumulate import accumulate_async
from epistula.generation.service import BATCH_PRIORITY, MessageRequest, MessageService
from epistula.generation.validation import format_validation_error
from epistula.protocol.messages import MessageCreateParams
from epistula.storage.batches import CANCELED_RESULT, BatchStore, ClaimedRequest, FinalStatus

from .service import RESULTS_RETENTION, errored_result, succeeded_result

log = logging.getLogger("epistula.batches")

LOST_CLAIM_AGE = 30.0
"""Seconds after its claim that a request this worker holds but no longer runs (its result
could not be written while the database was away) goes back to the queue."""
MAX_OVERLOAD_RETRIES = 50
"""An engine that stays overloaded for this many tries in a row errors the request."""


def item_params(stored: str) -> MessageCreateParams:
    """A stored item's params, validated as at creation (json + strict python validation:
    pydantic's own JSON parser stops at 200 levels of nesting, which the create endpoint
    accepts). Params that no longer validate (stored by an older version with looser rules)
    are the item's ``invalid_request_error``, not an internal error."""
    try:
        return MessageCreateParams.model_validate(json.loads(stored), strict=True)
    except ValidationError as exc:
        raise InvalidRequestError(format_validation_error(exc)) from exc


def internal_error(exc: BaseException) -> InternalServerError:
    """What the client reads for a failure of ours: which kind, and where its cause is
    (the server log, under the result's ``request_id``); never the exception's text."""
    kind = "" if isinstance(exc, ApiError) else f" ({type(exc).__name__})"
    return InternalServerError(
        f"Internal server error{kind} while running this batch request; the server log has "
        "the cause under this result's request_id"
    )


def new_worker_id() -> str:
    host = socket.gethostname().replace(".", "-")[:32] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


class _Requeue(Exception):
    """Give the request back and try again later: the engine is overloaded (``pause`` None),
    or the workspace's batch rate limit is spent (its claims pause ``pause`` seconds)."""

    def __init__(self, pause: float | None = None) -> None:
        super().__init__()
        self.pause = pause


class BatchRunner:
    def __init__(
        self,
        store: BatchStore,
        messages: MessageService,
        *,
        files: FileService | None = None,
        concurrency: int = 4,
        poll_interval: float = 1.0,
        maintenance_interval: float = 5.0,
        purge_interval: float = 3600.0,
        overload_backoff: float = 1.0,
        max_overload_retries: int = MAX_OVERLOAD_RETRIES,
        clock: Callable[[], float] = time.time,
        owner_gone: Callable[[str, str | None], bool] | None = None,
    ) -> None:
        self._store = store
        self._owner_gone_check = owner_gone
        """Asked (off the loop) before each request runs, with the batch's workspace and
        creating key: the batches of an archived workspace or of a disabled key stop."""
        self._messages = messages
        """Batch items pass the same service and gate as live requests (usage rows, spend limits)."""
        self._files = files
        self._concurrency = max(1, concurrency)
        self._poll_interval = poll_interval
        self._maintenance_interval = maintenance_interval
        self._purge_interval = purge_interval
        self._overload_backoff = overload_backoff
        self._max_overload_retries = max_overload_retries
        self._clock = clock
        self.worker_id = new_worker_id()
        self._wakeup = asyncio.Event()
        self._inflight: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._overloads: dict[tuple[str, int], int] = {}
        self._backoff_until = 0.0
        self._paused: dict[str, float] = {}
        """Workspace -> when its batch rate limit lets it be claimed again."""
        self._tasks: list[asyncio.Task[None]] = []
        self._last_purge = 0.0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await asyncio.to_thread(self._store.register_worker, self.worker_id)
        await self._maintain(purge=True)
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="batch-claims"),
            asyncio.create_task(self._maintenance_loop(), name="batch-maintenance"),
        ]
        log.info("batch worker %s started (concurrency %d)", self.worker_id, self._concurrency)

    async def stop(self) -> None:
        """Stop claiming, interrupt what runs, and hand it back to the queue so the next
        start (or another process) picks it up without waiting for recovery."""
        for task in self._tasks:
            task.cancel()
        for task in [*self._tasks, *self._inflight.values()]:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        self._inflight.clear()
        try:
            await asyncio.to_thread(self._store.unregister_worker, self.worker_id)
        except Exception:
            log.exception("batch worker %s: could not release its requests", self.worker_id)

    def wake(self) -> None:
        self._wakeup.set()

    async def batch_canceled(self, batch_id: str) -> None:
        """Interrupt this process's in-flight requests of a canceled batch; they are
        recorded as ``canceled`` (the batch then ends once nothing else runs)."""
        for (owner, index), task in list(self._inflight.items()):
            if owner != batch_id or task is asyncio.current_task():
                continue
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            await self._complete(batch_id, index, "canceled", CANCELED_RESULT)

    # ------------------------------------------------------------ loops

    async def _claim_loop(self) -> None:
        while True:
            self._wakeup.clear()
            free = self._concurrency - len(self._inflight)
            if free > 0 and self._clock() >= self._backoff_until:
                try:
                    claimed = await asyncio.to_thread(
                        self._store.claim, self.worker_id, free, self._clock(), skip_workspaces=self._paused_now()
                    )
                except Exception:
                    log.exception("batch worker: claiming failed")
                    claimed = []
                    await asyncio.sleep(self._poll_interval)
                for request in claimed:
                    key = (request.batch_id, request.index)
                    task = asyncio.create_task(self._run(request), name=f"batch-{request.batch_id}-{request.index}")
                    self._inflight[key] = task
                    task.add_done_callback(functools.partial(self._done, key))
                if claimed and len(claimed) == free:
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval)

    def _paused_now(self) -> frozenset[str]:
        now = self._clock()
        for workspace, until in list(self._paused.items()):
            if until <= now:
                del self._paused[workspace]
        return frozenset(self._paused)

    def _done(self, key: tuple[str, int], _task: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)
        self._wakeup.set()

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(self._maintenance_interval)
            now = self._clock()
            await self._maintain(purge=now - self._last_purge >= self._purge_interval)

    async def _maintain(self, *, purge: bool) -> None:
        """Recover orphans of dead workers and this worker's own lost completions, expire
        overdue batches, purge old results and expired files. Each step is independent: one
        failing does not stop the rest."""
        now = self._clock()
        running = frozenset(self._inflight)
        steps: list[tuple[str, Callable[[], object]]] = [
            ("recover", lambda: self._store.recover_orphans(self.worker_id)),
            ("recover lost", lambda: self._store.recover_own(self.worker_id, running, now - LOST_CLAIM_AGE)),
            ("expire", lambda: self._store.expire_batches(now)),
        ]
        if purge:
            self._last_purge = now
            steps.append(("purge", lambda: self._store.purge_batches(now - RESULTS_RETENTION, now)))
        for name, step in steps:
            try:
                changed = await asyncio.to_thread(step)
            except Exception:
                log.exception("batch maintenance step %s failed", name)
                continue
            if changed:
                log.info("batch maintenance %s: %s", name, changed)
                self.wake()
        if purge and self._files is not None:
            try:
                await self._files.purge_expired()
            except Exception:
                log.exception("purging expired files failed")

    # ------------------------------------------------------------ one request

    async def _owner_gone(self, request: ClaimedRequest) -> bool:
        """The batch's workspace was archived, or its key disabled (perhaps by the CLI, with
        no server to tell): cancel the whole batch instead of running the request."""
        check = self._owner_gone_check
        if check is None or not await asyncio.to_thread(check, request.workspace_id, request.key_id):
            return False
        log.info("batch %s: its workspace or key is no longer active; canceling", request.batch_id)
        await asyncio.to_thread(self._store.cancel_batch, request.workspace_id, request.batch_id, self._clock())
        await self.batch_canceled(request.batch_id)
        return True

    async def _run(self, request: ClaimedRequest) -> None:
        key = (request.batch_id, request.index)
        if await self._owner_gone(request):
            await self._complete(request.batch_id, request.index, "canceled", CANCELED_RESULT)
            return
        try:
            status, result = await self._generate(request)
        except _Requeue as requeue:
            if requeue.pause is not None:  # rate-limited: the workspace waits, the others go on
                self._paused[request.workspace_id] = self._clock() + requeue.pause
                await self._release(request)
                return
            self._overloads[key] = self._overloads.get(key, 0) + 1
            if self._overloads[key] < self._max_overload_retries:
                self._backoff_until = self._clock() + self._overload_backoff
                await self._release(request)
                return
            status, result = "errored", errored_result(OverloadedError("Overloaded"))
        self._overloads.pop(key, None)
        await self._complete(request.batch_id, request.index, status, result)

    async def _release(self, request: ClaimedRequest) -> None:
        try:
            await asyncio.to_thread(self._store.release, self.worker_id, request.batch_id, request.index)
        except Exception:  # still ours and running: retried after this worker's next restart
            log.exception("batch worker: releasing %s/%d failed", request.batch_id, request.index)

    async def _generate(self, request: ClaimedRequest) -> tuple[FinalStatus, str]:
        request_id = ids.request_id()
        try:
            params = item_params(request.params)
            # Usage rows of batch items carry no key (the accounting contract); the creating key
            # only decides whether the batch may still run (``_owner_gone``).
            principal = Principal(key_id="", workspace_id=request.workspace_id, name="batch")
            item = MessageRequest(
                params, principal, request.api_version, request_id, priority=BATCH_PRIORITY, batch=True
            )
            generation = await self._messages.start(item)
            try:
                message = await accumulate_async(generation.events)
            finally:
                await generation.close()
            message.usage.service_tier = "batch"
            return "succeeded", succeeded_result(message)
        except OverloadedError:
            raise _Requeue() from None
        except RateLimitError as exc:
            raise _Requeue(pause=exc.retry_after or self._overload_backoff) from None
        except ApiError as exc:
            if exc.status < 500:
                return "errored", errored_result(exc, request_id)
            failure: Exception = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = exc
        # The traceback holds the cause (an engine error is chained to the ApiError it became).
        log.error(
            "batch request %s/%s failed (request_id %s): %r",
            request.batch_id,
            request.custom_id,
            request_id,
            failure,
            exc_info=failure,
        )
        return "errored", errored_result(internal_error(failure), request_id)

    async def _complete(self, batch_id: str, index: int, status: FinalStatus, result: str) -> None:
        """Write the result; retried briefly because the database may be busy. A False
        from the store means someone else owns the request now: drop ours."""
        for attempt in range(5):
            try:
                await asyncio.to_thread(
                    self._store.complete, self.worker_id, batch_id, index, status, result, self._clock()
                )
                return
            except Exception:
                log.exception("batch worker: recording %s/%d failed (attempt %d)", batch_id, index, attempt + 1)
                await asyncio.sleep(0.5 * (attempt + 1))
