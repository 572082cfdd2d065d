"""A live fake-engine server with an Admin API key and prices, for the console suite,
and where the console's files are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import LiveServer, fake_settings, serving
from epistula.console import static_files

ADMIN_KEY = "sk-admin-console-test"
PRICES = {"claude-haiku-4-5": {"input": "1", "output": "5"}}
"""USD per million tokens; console_e2e.mjs checks the cost report against them."""

STATIC_DIR = Path(str(static_files()))
"""The console's files in this checkout (an editable install: the source tree)."""


def static_paths() -> list[str]:
    """Every console file, relative to the static directory, with ``/`` separators."""
    return sorted(p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = fake_settings(tmp_path_factory.mktemp("console"), admin_api_key=ADMIN_KEY, prices=PRICES)
    yield from serving(settings)
