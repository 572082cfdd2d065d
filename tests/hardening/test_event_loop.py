"""Issue 11 #4: big inputs are handled off the event loop.

Each test holds one stage of a request (JSON validation of a big body, tokenization of a
big prompt, the key lookup) until ``/health`` has been answered. When the stage runs on
the event loop, ``/health`` cannot be answered until it gives up waiting, so the request
finishes first; off the loop, ``/health`` finishes first. Completion order is asserted,
never a duration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import epistula.api.request as request_module
from conftest import LiveServer, server_fixture

GIVE_UP = 10.0
"""How long a held stage waits for /health before going on (the test then fails)."""
BIG = 32 * 1024 * 1024 - 4096


server = server_fixture("server", "loop", max_body_bytes=32 * 1024 * 1024)


class Hold:
    """A stage that waits for /health; ``order`` records which request finished first."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.health_done = threading.Event()
        self.order: list[str] = []

    def wrap(self, real: Callable[..., Any], applies: Callable[..., bool]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            if applies(*args, **kwargs) and not self.reached.is_set():
                self.reached.set()
                self.health_done.wait(GIVE_UP)
            return real(*args, **kwargs)

        return held

    def race(self, live: LiveServer, send: Callable[[], httpx.Response]) -> httpx.Response:
        result: list[httpx.Response] = []

        def big() -> None:
            result.append(send())
            self.order.append("request")

        worker = threading.Thread(target=big)
        worker.start()
        assert self.reached.wait(60), "the held stage was never reached"
        health = httpx.get(f"{live.base_url}/health", timeout=60)
        self.order.append("health")
        self.health_done.set()
        worker.join(120)
        assert health.status_code == 200
        return result[0]


def _count_tokens(live: LiveServer, text: str, key: str | None = None) -> Callable[[], httpx.Response]:
    payload = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": text}]}
    headers = live.headers() if key is None else {**live.headers(), "x-api-key": key}
    return lambda: httpx.post(f"{live.base_url}/v1/messages/count_tokens", json=payload, headers=headers, timeout=120)


def test_health_answers_while_a_32_mb_prompt_is_tokenized(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold()
    engine = server.engine
    monkeypatch.setattr(engine, "tokenize", hold.wrap(engine.tokenize, lambda text, **_: len(text) > BIG // 2))
    resp = hold.race(server, _count_tokens(server, "x" * (BIG - 200)))
    assert resp.status_code == 200, resp.text
    assert hold.order == ["health", "request"]


def test_health_answers_while_a_big_body_is_validated(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold()
    monkeypatch.setattr(request_module, "parse", hold.wrap(request_module.parse, lambda model, data: True))
    resp = hold.race(server, _count_tokens(server, "y" * (2 * request_module.OFFLOAD_BYTES)))
    assert resp.status_code == 200, resp.text
    assert hold.order == ["health", "request"]


def test_health_answers_while_a_key_is_looked_up(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold()
    keys = server.state.keys
    monkeypatch.setattr(keys, "verify", hold.wrap(keys.verify, lambda key: True))
    resp = hold.race(server, _count_tokens(server, "hi"))
    assert resp.status_code == 200, resp.text
    assert hold.order == ["health", "request"]
