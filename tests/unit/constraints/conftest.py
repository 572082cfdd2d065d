from __future__ import annotations

import pytest

from .engine import GrammarEngine


@pytest.fixture(scope="session")
def engine() -> GrammarEngine:
    return GrammarEngine()
