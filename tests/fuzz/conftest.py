"""The fuzz suites' shared parts: their server, the wire contract's status -> error.type
table, the case counter, reported at the end of the run (the count of cases tried is part
of what a fuzz run proves), and whether a whole fuzz suite was selected."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from conftest import LiveServer, fake_settings, start_server

FUZZ_STATS = pytest.StashKey[Counter[str]]()
ADMIN_KEY = "sk-admin-fuzz"


HEALTH_EVERY = 0.25
"""Seconds between the ``/health`` probes sent while a fuzz suite runs."""


def record_latency(stats: Counter[str], label: str, seconds: float) -> None:
    """Keep the slowest answer (in ms) seen under ``label``, for the terminal summary."""
    key = f"slowest ms {label}"
    stats[key] = max(stats[key], round(seconds * 1000))


def _probe_health(live: LiveServer, stats: Counter[str], stop: threading.Event) -> None:
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        while not stop.wait(HEALTH_EVERY):
            start = time.perf_counter()
            status = http.get("/health").status_code
            record_latency(stats, "/health", time.perf_counter() - start)
            stats["health probes"] += 1
            stats[f"health {status}"] += 1


@pytest.fixture(scope="module")
def fuzz_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server per test module, with an Admin API key: these suites create and delete
    batches, files, keys and workspaces that other suites must not see. ``/health`` is
    probed throughout; its slowest answer is reported with the fuzz statistics."""
    live = start_server(fake_settings(tmp_path_factory.mktemp("fuzz"), admin_api_key=ADMIN_KEY))
    stop = threading.Event()
    stats = request.config.stash.setdefault(FUZZ_STATS, Counter())
    prober = threading.Thread(target=_probe_health, args=(live, stats, stop), daemon=True)
    prober.start()
    yield live
    stop.set()
    prober.join()
    live.stop()


# The status -> error.type table of the wire contract (spec §1.5), written out here rather
# than imported, so that the server's own table is under test too. 405 is epistula's
# (the real API answers unknown methods with invalid_request_error as well).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@pytest.fixture(scope="session")
def fuzz_stats(request: pytest.FixtureRequest) -> Counter[str]:
    return request.config.stash.setdefault(FUZZ_STATS, Counter())


def selected(request: pytest.FixtureRequest, name: str) -> int:
    """How many items of the requesting module's test function ``name`` the session runs
    (a fuzz suite's closing check proves something only about a whole run of it)."""
    module = request.node.module
    return sum(
        1
        for item in request.session.items
        if getattr(item, "module", None) is module and getattr(item, "originalname", item.name) == name
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    stats = config.stash.get(FUZZ_STATS, None)
    if not stats:
        return
    statuses = ", ".join(f"{k.split()[1]}: {v}" for k, v in sorted(stats.items()) if k.startswith("status "))
    terminalreporter.write_sep("-", "schemathesis")
    terminalreporter.write_line(
        f"{stats['cases']} cases ({stats['positive']} positive, {stats['negative']} negative; "
        f"{stats['skipped']} skipped as fake-engine directives); statuses {statuses}"
    )
    slowest = ", ".join(
        f"{k[len('slowest ms ') :]} {v} ms" for k, v in sorted(stats.items()) if k.startswith("slowest ms ")
    )
    if slowest:
        terminalreporter.write_line(
            f"slowest answers: {slowest} ({stats['hostile-schema cases']} hostile-schema cases; "
            f"{stats['health probes']} /health probes, {stats['health 200']} answered 200)"
        )
    items = ", ".join(f"{k.split()[2]}: {v}" for k, v in sorted(stats.items()) if k.startswith("batch item "))
    if items:
        terminalreporter.write_line(f"fuzzed batch items: {items}")
    if config.get_verbosity() > 0:
        for key, count in sorted(stats.items()):
            if key.startswith("op "):
                terminalreporter.write_line(f"  {key[3:]}: {count}")
