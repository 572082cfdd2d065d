"""A live fake-engine server (and a reasoning variant) for the feature tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from epistula.config import ModelConfig, Settings
from epistula.http.app import create_app
from live import serve_in_thread

KEY = "sk-test-features"


def _serve(settings: Settings) -> Iterator[str]:
    server, thread, base_url = serve_in_thread(create_app(settings), startup_timeout=60)
    yield base_url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def fake_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data: Path = tmp_path_factory.mktemp("features-fake")
    yield from _serve(Settings(engine="fake", api_key=KEY, data_dir=data))


@pytest.fixture(scope="session")
def reasoning_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data: Path = tmp_path_factory.mktemp("features-reasoning")
    models = [ModelConfig(id="fake-reasoner", reasoning=True)]
    yield from _serve(Settings(engine="fake", api_key=KEY, data_dir=data, models=models))


@pytest.fixture
def client(fake_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake_url, api_key=KEY, max_retries=0)


@pytest.fixture
def reasoning_client(reasoning_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=reasoning_url, api_key=KEY, max_retries=0)
