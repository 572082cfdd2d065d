"""The idle meter that tells the thread policy when the machine was quiet (``/proc/stat``)."""

from __future__ import annotations

import os

from epistula.engines.llamacpp.cpuload import MIN_IDLE_SECONDS, IdleMeter, busy_and_total


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

    def run(self, seconds: float, busy: tuple[float, float]) -> None:
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
