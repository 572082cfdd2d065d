"""A worker process for the checks that must not hold this process's GIL.

Decoding a multi-MB JSON body, and validating or copying what it decodes to, are single C
calls that hold the GIL from start to end: a worker *thread* still stops the event loop
(``/health``, every stream) for their whole length. A big body is therefore first run
through the same checks in a process of its own, and only the verdict comes back: None,
or a small :class:`Refusal` that is raised here as the same error.

The pool is one spawned process (spawn, not fork: the server has threads), started on
first use; its data segment is capped at ``MEMORY_BYTES`` (a body that decodes to more
gets a ``MemoryError`` there, not here), it is replaced after ``RECYCLE_AFTER`` tasks
(memory a process freed may stay with it) or when it dies, and it is shut down with the
app.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TypeVar

from epistula.errors import ApiError, InternalServerError, RequestTooLargeError

T = TypeVar("T")

MEMORY_BYTES = 2 << 30
"""The worker process's data segment (``RLIMIT_DATA``: its heap and anonymous mappings)."""
RECYCLE_AFTER = 256
"""Tasks after which the worker process is replaced by a fresh one."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """An :class:`~epistula.errors.ApiError` as it crosses the process boundary (exceptions
    with keyword-only fields do not survive pickling)."""

    kind: type[ApiError]
    message: str
    details: dict[str, object] | None = None

    @classmethod
    def of(cls, exc: ApiError) -> Refusal:
        return cls(type(exc), exc.message, exc.details)

    def error(self) -> ApiError:
        return self.kind(self.message, details=self.details)


def attempt(work: Callable[[], T]) -> T | Refusal:
    """``work()``, or the refusal it raised (in the worker process, where a ``MemoryError``
    means the body decodes to more than ``MEMORY_BYTES``: a 413)."""
    try:
        return work()
    except ApiError as exc:
        return Refusal.of(exc)
    except MemoryError:
        return Refusal.of(RequestTooLargeError("The request body is too large to decode within the memory limit"))


def _limit_memory(limit: int) -> None:
    """The worker's initializer: cap its data segment (never above the inherited hard limit)."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))


class WorkerPool:
    """One worker process, started on first use. Only used from the event loop."""

    def __init__(self, memory_bytes: int = MEMORY_BYTES, recycle_after: int = RECYCLE_AFTER) -> None:
        self.memory_bytes = memory_bytes
        self.recycle_after = recycle_after
        self._pool: ProcessPoolExecutor | None = None
        self._tasks = 0
        self.started = 0
        """Worker processes started so far (for tests)."""

    def _current(self) -> ProcessPoolExecutor:
        if self._pool is not None and self._tasks >= self.recycle_after:
            self._retire()
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=get_context("spawn"),
                initializer=_limit_memory,
                initargs=(self.memory_bytes,),
            )
            self._tasks = 0
            self.started += 1
        self._tasks += 1
        return self._pool

    def _retire(self) -> None:
        """Let the current process finish what it was given, then exit; the next task starts another."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in the worker process (both must pickle; ``fn`` by reference)."""
        pool = self._current()
        try:
            return await asyncio.wrap_future(pool.submit(fn, *args))
        except BrokenProcessPool:
            if self._pool is pool:
                self._retire()
            raise InternalServerError("The worker process checking the request exited before it answered") from None

    async def close(self) -> None:
        """Shut the pool down, waiting for the task in progress (pending ones are dropped)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
