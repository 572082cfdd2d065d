"""A live fake-engine server (and a reasoning variant) for the feature tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
import uvicorn

from epistula.config import ModelConfig, Settings
from epistula.http.app import create_app

KEY = "sk-test-features"


def _serve(settings: Settings) -> Iterator[str]:
    # An explicit TCP socket handed to uvicorn: no bind/close/rebind race, and asyncio
    # disables Nagle's algorithm on it (a plain socket.socket() costs ~40 ms per request).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


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
