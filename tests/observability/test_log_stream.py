"""The log handler follows ``sys.stderr``: a host (or pytest's capture) that replaces and
closes the stream it had does not turn every later record into a "Logging error"."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from epistula.observability.logs import configure_logging


def test_records_go_to_the_current_stderr_after_the_old_one_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr(sys, "stderr", first)
        configure_logging("text", "info")
        logging.getLogger("epistula.test").info("one")
        first.close()
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("epistula.test").info("two")
        assert "epistula.test two" in second.getvalue()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
