"""Whether the rest of the machine was quiet while the llama.cpp worker idled.

The thread policy (:mod:`.threads`) learns how many threads are fastest by timing steps,
so a verdict made while something else held a core (the benchmark client reading 64
streams, another program) lasts until the other count is tried again. The worker's idle
spells are the moment to ask the kernel instead: it read ``/proc/stat`` when it went idle
and reads it again when work arrives, and if the CPUs it may run on were nearly idle all
along, every core is free now (:meth:`.ThreadPolicy.quiet`). Where ``/proc/stat`` cannot
be read (not Linux), nothing is reported and the policy goes on timing steps alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

QUIET_BUSY_CORES = 0.5
"""At most this many of the worker's cores busy, on average over the idle spell: quiet.
The server's own event loop answering a request's head stays well below it."""
MIN_IDLE_SECONDS = 0.1
"""Shorter idle spells are not judged: ``/proc/stat`` counts in 10 ms ticks per core."""


def _read_proc_stat() -> bytes | None:
    try:
        with open("/proc/stat", "rb") as fh:
            return fh.read()
    except OSError:
        return None


def busy_and_total(data: bytes, cpus: frozenset[int]) -> tuple[int, int] | None:
    """Busy and total ticks of these CPUs in a ``/proc/stat`` text (None: none listed).

    Busy is user, nice, system, irq, softirq and steal time (a shared host's other guests
    hold the core then too); idle and iowait are free time."""
    busy = total = 0
    seen = False
    for line in data.splitlines():
        if not line.startswith(b"cpu") or line.startswith(b"cpu "):
            continue
        fields = line.split()
        try:
            cpu = int(fields[0][3:])
            user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
        except ValueError:
            continue
        if cpu in cpus:
            seen = True
            busy += user + nice + system + irq + softirq + steal
            total += user + nice + system + idle + iowait + irq + softirq + steal
    return (busy, total) if seen else None


def _affinity() -> frozenset[int]:
    try:
        return frozenset(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return frozenset(range(os.cpu_count() or 1))


class IdleMeter:
    """Measures the machine's load over the worker's idle spells."""

    def __init__(
        self,
        read: Callable[[], bytes | None] = _read_proc_stat,
        clock: Callable[[], float] = time.monotonic,
        cpus: frozenset[int] | None = None,
    ) -> None:
        self._read, self._clock = read, clock
        self._cpus = cpus if cpus is not None else _affinity()
        self._start: tuple[float, tuple[int, int]] | None = None

    def _ticks(self) -> tuple[int, int] | None:
        data = self._read()
        return busy_and_total(data, self._cpus) if data is not None else None

    def idle(self) -> None:
        """The worker goes idle now."""
        ticks = self._ticks()
        self._start = (self._clock(), ticks) if ticks is not None else None

    def quiet(self) -> bool:
        """Work arrived: whether the machine was quiet since :meth:`idle` (False when the
        spell was too short to judge or the counters cannot be read)."""
        start, self._start = self._start, None
        if start is None or self._clock() - start[0] < MIN_IDLE_SECONDS:
            return False
        ticks = self._ticks()
        if ticks is None:
            return False
        busy, total = ticks[0] - start[1][0], ticks[1] - start[1][1]
        if total <= 0:
            return False
        return busy * len(self._cpus) / total < QUIET_BUSY_CORES
