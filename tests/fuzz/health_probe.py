"""Probe a server's ``/health`` at a fixed interval from a process of its own, so that what
is measured is the server's answer, not the wait of a prober thread for the GIL of a test
process busy building multi-MB hostile bodies.

    python tests/fuzz/health_probe.py URL SECONDS

Probes until SIGTERM, then prints one JSON line: ``probes``, ``statuses`` (status code, or
the transport error's name, -> count) and ``slowest_ms``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import Counter

import httpx


def main() -> None:
    url, every = sys.argv[1], float(sys.argv[2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    statuses: Counter[str] = Counter()
    slowest = 0.0
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.wait(every):
            start = time.perf_counter()
            try:
                status = str(http.get("/health").status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            slowest = max(slowest, time.perf_counter() - start)
            statuses[status] += 1
    print(json.dumps({"probes": statuses.total(), "statuses": statuses, "slowest_ms": round(slowest * 1000)}))


if __name__ == "__main__":
    main()
