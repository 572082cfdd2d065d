"""The fuzz suites' shared parts: their server (``epistula serve`` in a process of its own,
probed for ``/health`` by another), the wire contract's status -> error.type table, the case
counter, reported at the end of the run (the count of cases tried is part of what a fuzz run
proves), and whether a whole fuzz suite was selected."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from processes import KEY, ServeProcess

FUZZ_STATS = pytest.StashKey[Counter[str]]()
ADMIN_KEY = "sk-admin-fuzz"


HEALTH_EVERY = 0.1
"""Seconds between the ``/health`` probes sent while a fuzz suite runs."""
HEALTH_BOUND_MS = 100
"""What the server may add to a ``/health`` answer while a fuzz suite runs (the issue's
bound): the probe's latency minus the machine's stall that overlapped it, as the probe's
controls measured it (see ``health_probe.py``). Reported with the fuzz statistics; asserted
only when ``EPISTULA_TEST_HEALTH_BOUND=1`` (a timing on a shared 2-core CI box is not a
verdict: the project's rule is never to assert timings in the suite)."""


def record_latency(stats: Counter[str], label: str, seconds: float) -> None:
    """Keep the slowest answer (in ms) seen under ``label``, for the terminal summary."""
    key = f"slowest ms {label}"
    stats[key] = max(stats[key], round(seconds * 1000))


class FuzzServer(ServeProcess):
    """``epistula serve`` on the fake engine with an Admin API key, in a process of its own:
    what the fuzz measures (``/health``, the slowest answer) is the server's time, not the
    test process's, which builds multi-MB hostile bodies between requests."""

    api_key = KEY
    env = {"EPISTULA_ADMIN_API_KEY": ADMIN_KEY, "EPISTULA_LOG_LEVEL": "warning"}

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, env=self.env)
        models = httpx.get(f"{self.base_url}/v1/models", headers=self.headers(), timeout=30)
        assert models.status_code == 200, models.text
        self.model_id: str = models.json()["data"][0]["id"]


def _stop_probe(probe: subprocess.Popen[str], stats: Counter[str], suite: str) -> dict[str, Any]:
    probe.send_signal(signal.SIGTERM)
    out, _ = probe.communicate(timeout=60)
    seen: dict[str, Any] = json.loads(out)
    stats["health probes"] += seen["probes"]
    for status, count in seen["statuses"].items():
        stats[f"health {status}"] += count
    stats["slowest ms /health"] = max(stats["slowest ms /health"], seen["slowest_ms"])
    stats[f"slowest ms /health during {suite}"] = seen["slowest_ms"]
    stats["health excess ms"] = max(stats["health excess ms"], seen["excess_ms"])
    return seen


@pytest.fixture(scope="module")
def fuzz_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    """A server per test module: these suites create and delete batches, files, keys and
    workspaces that other suites must not see. ``/health`` is probed throughout from a
    third process; its slowest answer is reported with the fuzz statistics, and the module
    fails (at teardown) if one was not a 200, or, with ``EPISTULA_TEST_HEALTH_BOUND=1``, if
    the server added ``HEALTH_BOUND_MS`` or more to any answer."""
    suite = request.module.__name__.rsplit(".", 1)[-1]
    live = FuzzServer(tmp_path_factory.mktemp("fuzz"))
    probe_script = str(Path(__file__).with_name("health_probe.py"))
    probe = subprocess.Popen(
        [sys.executable, probe_script, live.base_url, str(HEALTH_EVERY), str(live.proc.pid)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield live
        assert live.proc.poll() is None, f"the fuzz server exited with {live.proc.returncode}:\n{live.log()}"
    finally:
        seen = _stop_probe(probe, request.config.stash.setdefault(FUZZ_STATS, Counter()), suite)
        live.stop()
    assert set(seen["statuses"]) == {"200"}, seen
    assert not os.environ.get("EPISTULA_TEST_HEALTH_BOUND") or seen["excess_ms"] < HEALTH_BOUND_MS, (
        f"/health took {seen['excess_ms']} ms beyond the machine's stall during {suite} "
        f"(the worst probes as [latency ms, stall ms]: {seen['worst']})"
    )


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
            f"{stats['health probes']} /health probes, {stats['health 200']} answered 200, "
            f"at most {stats['health excess ms']} ms beyond the machine's stall)"
        )
    items = ", ".join(f"{k.split()[2]}: {v}" for k, v in sorted(stats.items()) if k.startswith("batch item "))
    if items:
        terminalreporter.write_line(f"fuzzed batch items: {items}")
    if config.get_verbosity() > 0:
        for key, count in sorted(stats.items()):
            if key.startswith("op "):
                terminalreporter.write_line(f"  {key[3:]}: {count}")
