"""The fuzz suite's server, and its case counter, reported at the end of the run (the
count of cases tried is part of what a fuzz run proves)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from conftest import LiveServer, fake_settings, start_server

FUZZ_STATS = pytest.StashKey[Counter[str]]()
ADMIN_KEY = "sk-admin-fuzz"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server per test module, with an Admin API key: these suites create and delete
    batches, files, keys and workspaces that other suites must not see."""
    live = start_server(fake_settings(tmp_path_factory.mktemp("fuzz"), admin_api_key=ADMIN_KEY))
    yield live
    live.stop()


@pytest.fixture(scope="session")
def fuzz_stats(request: pytest.FixtureRequest) -> Counter[str]:
    return request.config.stash.setdefault(FUZZ_STATS, Counter())


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
    items = ", ".join(f"{k.split()[2]}: {v}" for k, v in sorted(stats.items()) if k.startswith("batch item "))
    if items:
        terminalreporter.write_line(f"fuzzed batch items: {items}")
    if config.get_verbosity() > 0:
        for key, count in sorted(stats.items()):
            if key.startswith("op "):
                terminalreporter.write_line(f"  {key[3:]}: {count}")
