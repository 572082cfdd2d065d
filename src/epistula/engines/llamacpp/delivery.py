"""The engine worker's handoff of events to the asyncio side.

Each step's outcomes (tokens, progress, the end, errors) go into one mailbox per event
loop. A mailbox wakes its loop with ``call_soon_threadsafe`` (a write to the loop's
self-pipe) only when the loop has drained the previous delivery: sixteen streams cost
one wake-up per step, and a loop still busy with the last step's events (serving HTTP)
gets the next step's events in the same delivery instead of another wake-up.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from epistula.engines.llamacpp.slots import Job, Outcome

log = logging.getLogger(__name__)


class Mailboxes:
    """The worker's mailboxes, one per event loop it has delivered to (worker thread only)."""

    def __init__(self) -> None:
        self._boxes: dict[asyncio.AbstractEventLoop, _Mailbox] = {}

    def post(self, outbox: list[tuple[Job, Outcome]]) -> None:
        """Deliver a step's outcomes, grouped by their jobs' loops."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job, Outcome]]] = {}
        for item in outbox:
            by_loop.setdefault(item[0].loop, []).append(item)
        for loop, items in by_loop.items():
            box = self._boxes.get(loop)
            if box is None:
                for closed in [lp for lp in self._boxes if lp.is_closed()]:
                    del self._boxes[closed]
                box = self._boxes[loop] = _Mailbox(loop)
            box.post(items)


class _Mailbox:
    """Outcomes on their way to one event loop, delivered by at most one pending callback."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: list[tuple[Job, Outcome]] = []
        self._scheduled = False

    def post(self, items: list[tuple[Job, Outcome]]) -> None:
        """Worker thread: queue ``items``; wake the loop unless a delivery is pending."""
        with self._lock:
            self._items += items
            if self._scheduled:
                return
            self._scheduled = True
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
