"""The meters that tell the thread policy when the machine was quiet and how many cores others keep busy (``/proc``)."""

from __future__ import annotations

import os
import threading

from epistula.engines.llamacpp.cpuload import (
    MIN_IDLE_SECONDS,
    IdleMeter,
    LoadMeter,
    _read_own_threads,
    busy_and_total,
    name_this_thread,
)


def _stat(*cpus: tuple[int, int]) -> bytes:
    """A ``/proc/stat`` text whose CPU i spent ``cpus[i]`` = (busy, idle) ticks, busy split
    over user, system and steal."""
    total_busy = sum(b for b, _ in cpus)
    total_idle = sum(i for _, i in cpus)
    lines = [f"cpu  {total_busy} 0 0 {total_idle} 0 0 0 0 0 0"]
    for n, (busy, idle) in enumerate(cpus):
        user, system, steal = busy // 2, busy // 4, busy - busy // 2 - busy // 4
        lines.append(f"cpu{n} {user} 0 {system} {idle} 0 0 0 {steal} 0 0")
    return ("\n".join(lines) + "\nintr 1 2 3\nctxt 99\n").encode()


class _Machine:
    def __init__(self) -> None:
        self.now = 0.0
        self.cpus = [(0, 0), (0, 0)]

    def run(self, seconds: float, busy: tuple[float, ...]) -> None:
        """``seconds`` pass with each CPU busy that fraction of the time (100 ticks a second)."""
        self.now += seconds
        ticks = round(seconds * 100)
        self.cpus = [
            (b + round(ticks * f), i + ticks - round(ticks * f)) for (b, i), f in zip(self.cpus, busy, strict=True)
        ]

    def read(self) -> bytes:
        return _stat(*self.cpus)


def _meter(machine: _Machine, cpus: frozenset[int] = frozenset({0, 1})) -> IdleMeter:
    return IdleMeter(read=machine.read, clock=lambda: machine.now, cpus=cpus)


def test_an_idle_machine_is_quiet_and_a_busy_one_is_not() -> None:
    machine = _Machine()
    meter = _meter(machine)
    meter.idle()
    machine.run(0.5, (0.1, 0.0))
    assert meter.quiet()
    meter.idle()
    machine.run(0.5, (1.0, 0.2))  # another program holds a core
    assert not meter.quiet()
    meter.idle()
    machine.run(0.5, (0.3, 0.3))  # ~0.6 of a core busy in all
    assert not meter.quiet()


def test_only_the_workers_cpus_count() -> None:
    machine = _Machine()
    meter = _meter(machine, cpus=frozenset({1}))
    meter.idle()
    machine.run(0.5, (1.0, 0.0))  # busy, but not a CPU the worker may run on
    assert meter.quiet()


def test_short_spells_and_unreadable_counters_are_not_judged() -> None:
    machine = _Machine()
    meter = _meter(machine)
    meter.idle()
    machine.run(MIN_IDLE_SECONDS / 2, (0.0, 0.0))
    assert not meter.quiet()
    assert not meter.quiet()  # each idle() is judged once
    blind = IdleMeter(read=lambda: None, clock=lambda: machine.now, cpus=frozenset({0}))
    blind.idle()
    machine.run(1.0, (0.0, 0.0))
    assert not blind.quiet()
    assert busy_and_total(b"cpu  1 2 3 4\n", frozenset({0})) is None


def test_the_real_counters_parse() -> None:
    if not os.path.exists("/proc/stat"):
        return
    with open("/proc/stat", "rb") as fh:
        ticks = busy_and_total(fh.read(), frozenset(os.sched_getaffinity(0)))
    assert ticks is not None and 0 <= ticks[0] <= ticks[1]


def test_the_load_of_others_is_the_busy_time_less_the_workers_threads() -> None:
    """Four cores: the worker's threads (ggml's, named as the worker) hold three, another
    program and the event loop the rest. A worker thread that ended (ggml's pool shrank)
    keeps its ticks in the process's total."""
    machine = _Machine()
    machine.cpus = [(0, 0)] * 4
    live: dict[int, tuple[str, int]] = {1: ("epistula-ggml", 0), 2: ("epistula-ggml", 0), 3: ("python", 0)}
    process = [0]

    def spend(tid: int, ticks: int) -> None:
        live[tid] = (live[tid][0], live[tid][1] + ticks)
        process[0] += ticks

    def read_threads() -> tuple[int, dict[int, tuple[str, int]]]:
        return process[0], dict(live)

    meter = LoadMeter("epistula-ggml", read=machine.read, read_threads=read_threads, cpus=frozenset(range(4)))
    assert meter.sample() is None  # the first reading only starts the window
    machine.run(1.0, (1.0, 1.0, 1.0, 1.0))
    spend(1, 150)
    spend(2, 150)  # 3 cores for a second, in 10 ms ticks
    spend(3, 50)  # the event loop counts as others
    assert meter.sample() == 1.0
    machine.run(1.0, (1.0, 1.0, 1.0, 0.0))
    spend(1, 150)
    spend(2, 150)
    assert meter.sample() == 0.0
    machine.run(1.0, (1.0, 1.0, 1.0, 1.0))
    spend(1, 200)
    spend(2, 100)
    del live[2]  # ended: its ticks stay in the process's total
    live[4] = ("python", 30)  # a helper thread started (its ticks are all in this window)
    process[0] += 30
    assert meter.sample() == 1.0
    blind = LoadMeter("epistula-ggml", read=machine.read, read_threads=lambda: None, cpus=frozenset(range(4)))
    assert blind.sample() is None and blind.sample() is None


def test_a_named_thread_is_found_by_its_name() -> None:
    if not os.path.exists("/proc/self/task"):
        return
    found: list[tuple[int, dict[int, tuple[str, int]]] | None] = []

    def worker() -> None:
        if name_this_thread("epistula-test"):
            sum(range(3_000_000))  # some CPU time
            found.append(_read_own_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    if found:
        threads = found[0]
        assert threads is not None and "epistula-test" in {name for name, _ in threads[1].values()}
        assert threads[0] >= sum(used for _, used in threads[1].values())
