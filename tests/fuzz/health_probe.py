"""Probe a server's ``/health`` at a fixed interval from a process of its own, so that what
is measured is the server's answer, not the wait of a prober thread for the GIL of a test
process busy building multi-MB hostile bodies.

    python tests/fuzz/health_probe.py URL SECONDS SERVER_PID

Two controls tell the machine's stalls from the server's own. A thread of this process
makes a round trip through a socket pair to an echo thread every 10 ms: it involves no
server, so the time its round trips took beyond their 10 ms is how long the machine did
not run this process (the other agents of a shared machine, a CPU quota's throttling).
And the kernel's run-queue wait of the server's threads (``/proc/PID/task/*/schedstat``)
is how long they were ready to run but had no CPU (waiting for the GIL is sleeping, not
run-queue wait). The ``stall`` of a probe is the larger of the longest control lag that
overlapped it and the server's run-queue wait during it; its ``excess`` (latency minus
stall) is what the server itself added.

Probes until SIGTERM, then prints one JSON line: ``probes``, ``statuses`` (status code, or
the transport error's name, -> count), ``slowest_ms`` and ``excess_ms`` (the largest excess),
and ``worst``: the three probes of largest excess as ``[latency_ms, stall_ms]``.
"""

from __future__ import annotations

import bisect
import json
import signal
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

CONTROL_EVERY = 0.01


class Control:
    """Round trips through a socket pair, every ``CONTROL_EVERY`` seconds, recorded as
    ``(start, end)`` of each sleep-and-round-trip (its lag: ``end - start - CONTROL_EVERY``)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self._ping, echo = socket.socketpair()
        threading.Thread(target=self._echo, args=(echo,), daemon=True).start()
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _echo(sock: socket.socket) -> None:
        while data := sock.recv(1):
            sock.sendall(data)

    def _run(self) -> None:
        while True:
            start = time.perf_counter()
            time.sleep(CONTROL_EVERY)
            self._ping.sendall(b"x")
            self._ping.recv(1)
            self.starts.append(start)  # ``starts`` first: every index of ``ends`` has its start
            self.ends.append(time.perf_counter())

    def stall(self, start: float, end: float) -> float:
        """The longest lag of a control round trip that overlapped ``[start, end]``."""
        ends = self.ends[:]
        first = bisect.bisect_left(ends, start)
        lags = [ends[i] - self.starts[i] - CONTROL_EVERY for i in range(first, len(ends)) if self.starts[i] <= end]
        return max(lags, default=0.0)


def runqueue_wait(pid: int) -> float:
    """Seconds the threads of process ``pid`` have spent runnable but not running, in all
    (0 where the kernel does not keep schedstats)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def main() -> None:
    url, every, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    control = Control()
    statuses: Counter[str] = Counter()
    spans: list[tuple[float, float, float]] = []
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.wait(every):
            waited = runqueue_wait(pid)
            start = time.perf_counter()
            try:
                status = str(http.get("/health").status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            end = time.perf_counter()
            spans.append((start, end, runqueue_wait(pid) - waited))
            statuses[status] += 1
    time.sleep(3 * CONTROL_EVERY)  # the control round trip that overlapped the last probe ends
    seen = [(end - start, max(control.stall(start, end), waited)) for start, end, waited in spans]
    seen.sort(key=lambda probe: probe[1] - probe[0])  # the largest excess first
    print(
        json.dumps(
            {
                "probes": statuses.total(),
                "statuses": statuses,
                "slowest_ms": round(max((latency for latency, _ in seen), default=0.0) * 1000),
                "excess_ms": round(max((latency - stall for latency, stall in seen), default=0.0) * 1000),
                "worst": [[round(latency * 1000), round(stall * 1000)] for latency, stall in seen[:3]],
            }
        )
    )


if __name__ == "__main__":
    main()
