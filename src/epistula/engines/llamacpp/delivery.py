"""The engine worker's handoff of events to the asyncio side.

Each step's outcomes (tokens, progress, the end, errors) go into one mailbox per event
loop. A mailbox wakes its loop with ``call_soon_threadsafe`` (a write to the loop's
self-pipe) only when the loop has drained the previous delivery: sixteen streams cost
one wake-up per step, and a loop still busy with the last step's events (serving HTTP)
gets the next step's events in the same delivery instead of another wake-up.

When steps are quick (one or two streams decoding, no prompt waiting), tokens may also
wait in the mailbox for the next steps, up to ``HOLD_SECONDS``: the loop then wakes once
for two or three tokens rather than once per token. On a 2-core machine each wake-up
costs the loop ~0.2 ms of CPU that comes out of ggml's two threads, ~4% of a one-stream
token. A stream's first token, its end, errors and progress are never held, nor anything
when the next step may be long (a prompt to read).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from epistula.engines.base import Token
from epistula.engines.llamacpp.slots import Job, Outcome

log = logging.getLogger(__name__)

HOLD_SECONDS = 0.02
"""The longest a token waits in a mailbox for the tokens of the following steps."""


class Mailboxes:
    """The worker's mailboxes, one per event loop it has delivered to (worker thread only)."""

    def __init__(self) -> None:
        self._boxes: dict[asyncio.AbstractEventLoop, _Mailbox] = {}

    def post(self, outbox: list[tuple[Job, Outcome]], quick: bool) -> None:
        """Deliver a step's outcomes, grouped by their jobs' loops; ``quick`` says the next
        step decodes only (tokens may wait for it)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job, Outcome]]] = {}
        for item in outbox:
            by_loop.setdefault(item[0].loop, []).append(item)
        for loop in by_loop:
            if loop not in self._boxes:
                for closed in [lp for lp in self._boxes if lp.is_closed()]:
                    del self._boxes[closed]
                self._boxes[loop] = _Mailbox(loop)
        now = time.monotonic()
        for loop, box in self._boxes.items():
            box.post(by_loop.get(loop, []), now, quick)


class _Mailbox:
    """Outcomes on their way to one event loop, delivered by at most one pending callback."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: list[tuple[Job, Outcome]] = []
        self._scheduled = False
        self._held_since = 0.0
        """When the oldest undelivered item came (0: none is held)."""
        self._last_post = 0.0

    def post(self, items: list[tuple[Job, Outcome]], now: float, quick: bool) -> None:
        """Worker thread: queue ``items``; wake the loop unless a delivery is pending or
        the items may wait for the next quick step."""
        step, self._last_post = now - self._last_post, now
        with self._lock:
            self._items += items
            if self._scheduled or not self._items:
                return
            held = self._held_since or now
            if quick and now - held + step < HOLD_SECONDS and all(_holdable(item) for item in items):
                self._held_since = held
                return
            self._scheduled, self._held_since = True, 0.0
        try:
            self._loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the consumer's loop is closed; nobody to tell
            log.debug("dropping %d events for a closed event loop", len(items))

    def _deliver(self) -> None:
        """Event loop: hand every waiting outcome to its job's queue."""
        with self._lock:
            items, self._items = self._items, []
            self._scheduled = False
        for job, outcome in items:
            job.queue.put_nowait(outcome)


def _holdable(item: tuple[Job, Outcome]) -> bool:
    """A token that is not its stream's first (time to first token is never held)."""
    job, outcome = item
    return type(outcome) is Token and job.output_tokens > 1
