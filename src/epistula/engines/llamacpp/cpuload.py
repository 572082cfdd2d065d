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

import ctypes
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


def _cpu_ticks(read: Callable[[], bytes | None], cpus: frozenset[int]) -> tuple[int, int] | None:
    """Busy and total ticks of ``cpus`` from what ``read`` returns (None: unreadable)."""
    data = read()
    return busy_and_total(data, cpus) if data is not None else None


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

    def idle(self) -> None:
        """The worker goes idle now."""
        ticks = _cpu_ticks(self._read, self._cpus)
        self._start = (self._clock(), ticks) if ticks is not None else None

    def quiet(self) -> bool:
        """Work arrived: whether the machine was quiet since :meth:`idle` (False when the
        spell was too short to judge or the counters cannot be read)."""
        start, self._start = self._start, None
        if start is None or self._clock() - start[0] < MIN_IDLE_SECONDS:
            return False
        ticks = _cpu_ticks(self._read, self._cpus)
        if ticks is None:
            return False
        busy, total = ticks[0] - start[1][0], ticks[1] - start[1][1]
        if total <= 0:
            return False
        return busy * len(self._cpus) / total < QUIET_BUSY_CORES


def _read_own_threads() -> tuple[int, dict[int, tuple[str, int]]] | None:
    """This process's CPU ticks (user + system, ended threads included), and each live
    thread's name and ticks by thread id."""
    threads: dict[int, tuple[str, int]] = {}
    try:
        with open("/proc/self/stat", "rb") as fh:
            process = _ticks_of(fh.read())[1]
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat", "rb") as fh:
                threads[int(tid)] = _ticks_of(fh.read())
    except (OSError, ValueError, IndexError):
        return None
    return process, threads


def _ticks_of(stat: bytes) -> tuple[str, int]:
    """The name and user + system ticks in a ``/proc/.../stat`` line."""
    fields = stat[stat.rindex(b")") + 2 :].split()
    return stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode(errors="replace"), int(fields[11]) + int(fields[12])


Threads = tuple[int, dict[int, tuple[str, int]]]
"""The process's ticks, and each live thread's name and ticks (:func:`_read_own_threads`)."""


class LoadMeter:
    """How many of the worker's cores everything else keeps busy while it decodes.

    "Everything else" is the machine's busy time on those cores (``/proc/stat``) less that
    of the worker and ggml's threads, which it started and which inherit its name. Their
    time is the process's (which keeps the ticks of threads that ended: ggml's pool
    shrinks and grows with the thread count) less that of the process's other threads. The
    server's own event loop and helper threads count as others, as other programs do. Each
    :meth:`sample` covers the time since the last."""

    def __init__(
        self,
        own_name: str,
        read: Callable[[], bytes | None] = _read_proc_stat,
        read_threads: Callable[[], Threads | None] = _read_own_threads,
        cpus: frozenset[int] | None = None,
    ) -> None:
        self._own = own_name
        self._read, self._read_threads = read, read_threads
        self._cpus = cpus if cpus is not None else _affinity()
        self._last: tuple[int, int, Threads] | None = None

    def sample(self) -> float | None:
        """Cores kept busy by others since the last sample (None: the first sample, or
        counters that cannot be read)."""
        ticks, threads = _cpu_ticks(self._read, self._cpus), self._read_threads()
        if ticks is None or threads is None:
            self._last = None
            return None
        last, self._last = self._last, (ticks[0], ticks[1], threads)
        if last is None or ticks[1] <= last[1]:
            return None
        busy_before, total_before, (process_before, before) = last
        process, live = threads
        helpers = sum(
            used - (before[tid][1] if tid in before else 0) for tid, (name, used) in live.items() if name != self._own
        )
        others = (ticks[0] - busy_before) - (process - process_before - helpers)
        return max(0.0, others * len(self._cpus) / (ticks[1] - total_before))


WORKER_NAME = "epistula-ggml"
"""The name the worker gives its OS thread (``PR_SET_NAME``), inherited by ggml's threads."""


def name_this_thread(name: str = WORKER_NAME) -> bool:
    """Name the calling OS thread (Linux), so the threads it starts are known by that name."""
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.prctl(15, name.encode()[:15], 0, 0, 0) == 0)  # PR_SET_NAME
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False
