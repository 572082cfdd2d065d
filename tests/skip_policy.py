"""A test may skip only for a reason the allow-list names (``tests/allowed_skips.txt``).

A skipped test hides whatever it was written to check, so a run that is green "by skipping"
proves less than it shows. This plugin collects every skip (of a test, of a whole module at
collection, and every xfail) with its reason, prints the pass and skip counts and each
skip's reason at the end of the run, and, under CI (``CI=true``, as ``.ci/run`` sets it),
turns a run with any skip whose reason matches no allow-list pattern into a failed run
(exit status 1).

Outside CI the skips are only reported: a developer without PostgreSQL, Redis or Chromium
can still run the README's ``pytest`` and see exactly what did not run, while CI, which
sets all of them up (and fails when it cannot), may not lose a test silently.

The allow-list has one regular expression per line (searched in the skip reason); blank
lines and lines starting with ``#`` are comments.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ALLOWED_SKIPS = Path(__file__).with_name("allowed_skips.txt")
PLUGIN_NAME = "epistula-skip-policy"


def strict() -> bool:
    """Whether disallowed skips fail the run: under CI (``CI`` set to a true value)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def load_allowed(path: Path) -> list[re.Pattern[str]]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [re.compile(line) for line in lines if line and not line.startswith("#")]


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason pytest prints for a skip (``Skipped: `` stripped) or an xfail."""
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return f"xfail: {wasxfail}"
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


@dataclass(frozen=True)
class Skip:
    nodeid: str
    reason: str
    allowed: bool


@dataclass(eq=False)  # hashable by identity: pluggy keeps plugins in a set
class SkipPolicy:
    """The plugin: registered once per session by :func:`install`."""

    allowed: list[re.Pattern[str]]
    enforce: bool
    passed: int = 0
    failed: set[str] = field(default_factory=set)
    skips: list[Skip] = field(default_factory=list)

    def _skip(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        reason = skip_reason(report)
        allowed = any(pattern.search(reason) for pattern in self.allowed)
        self.skips.append(Skip(report.nodeid, reason, allowed))

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            self._skip(report)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped:
            self._skip(report)
        elif report.failed:
            self.failed.add(report.nodeid)
        elif report.when == "call":
            self.passed += 1

    def disallowed(self) -> list[Skip]:
        return [skip for skip in self.skips if not skip.allowed]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        green = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        if self.enforce and green and self.disallowed():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "skip policy")
        write(f"{self.passed} passed, {len(self.failed)} failed, {len(self.skips)} skipped")
        for skip in self.skips:
            write(f"{'allowed' if skip.allowed else 'NOT ALLOWED'}: {skip.nodeid}: {skip.reason}")
        bad = self.disallowed()
        if bad and self.enforce:
            write(f"{len(bad)} skip(s) not in {ALLOWED_SKIPS.name}: the run fails (CI=true)", red=True, bold=True)
        elif bad:
            write(f"{len(bad)} skip(s) not in {ALLOWED_SKIPS.name} (they would fail the run under CI=true)")


def install(config: pytest.Config, allowed_file: Path = ALLOWED_SKIPS) -> SkipPolicy:
    """Register the plugin (from a ``pytest_configure`` hook); idempotent."""
    existing = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if isinstance(existing, SkipPolicy):
        return existing
    policy = SkipPolicy(allowed=load_allowed(allowed_file), enforce=strict())
    config.pluginmanager.register(policy, PLUGIN_NAME)
    return policy
