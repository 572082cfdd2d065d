"""Issue 11 #4: a request's messages and content blocks are counted on the raw JSON and
refused over budget before pydantic validates them (300,000 blocks took seconds of
GIL-bound validation); batches are counted per request and in all."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from conftest import MODEL, LiveServer, assert_error
from epistula.generation import budgets
from epistula.generation.budgets import MAX_REQUEST_BLOCKS, count_blocks

TEXT = {"type": "text", "text": "x"}


def _blocks(n: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [TEXT] * n}]


def test_counting_covers_every_kind_of_block() -> None:
    tool_result = {"type": "tool_result", "tool_use_id": "t", "content": [TEXT, TEXT]}
    raw = {
        "system": [TEXT],
        "tools": [{"name": "a"}, {"name": "b"}],
        "messages": [{"role": "user", "content": "plain"}, {"role": "user", "content": [TEXT, tool_result]}],
    }
    assert count_blocks(raw) == 1 + 2 + 2 + 2 + 2
    assert count_blocks({"messages": "not a list", "system": 5}) == 0


def _post(live: LiveServer, path: str, payload: dict[str, Any]) -> httpx.Response:
    data = json.dumps(payload).encode()
    return httpx.post(f"{live.base_url}{path}", content=data, headers=live.headers(), timeout=60)


def test_the_issues_300k_blocks_are_a_400(fake_server: LiveServer) -> None:
    resp = _post(fake_server, "/v1/messages", {"model": MODEL, "max_tokens": 8, "messages": _blocks(300_000)})
    error = assert_error(resp, 400, "invalid_request_error", contains=f"at most {MAX_REQUEST_BLOCKS:,}")
    assert error["error"]["message"].startswith("messages: the request has 300,001 messages and content blocks")


@pytest.fixture()
def small_budgets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same checks with small numbers (the server runs in this process)."""
    monkeypatch.setattr(budgets, "MAX_REQUEST_BLOCKS", 1000)
    monkeypatch.setattr(budgets, "MAX_BATCH_BLOCKS", 3000)


@pytest.mark.usefixtures("small_budgets")
def test_messages_and_count_tokens_at_and_over_budget(fake_server: LiveServer) -> None:
    ok = _post(fake_server, "/v1/messages", {"model": MODEL, "max_tokens": 8, "messages": _blocks(999)})
    assert ok.status_code == 200, ok.text
    over = _post(fake_server, "/v1/messages", {"model": MODEL, "max_tokens": 8, "messages": _blocks(1000)})
    assert_error(over, 400, "invalid_request_error", contains="1,001 messages and content blocks")
    counted = _post(fake_server, "/v1/messages/count_tokens", {"model": MODEL, "messages": _blocks(1000)})
    assert_error(counted, 400, "invalid_request_error", contains="at most 1,000 are allowed")


@pytest.mark.usefixtures("small_budgets")
def test_batches_are_counted_per_request_and_in_all(fake_server: LiveServer) -> None:
    one = {"model": MODEL, "max_tokens": 8, "messages": _blocks(1000)}
    resp = _post(fake_server, "/v1/messages/batches", {"requests": [{"custom_id": "a", "params": one}]})
    assert_error(resp, 400, "invalid_request_error", contains="requests.0.params.messages: ")
    share = {"model": MODEL, "max_tokens": 8, "messages": _blocks(599)}
    items = [{"custom_id": f"r{i}", "params": share} for i in range(6)]  # 6 x 600 > 3000
    resp = _post(fake_server, "/v1/messages/batches", {"requests": items})
    assert_error(resp, 400, "invalid_request_error", contains="at most 3,000 are allowed per batch")
    resp = _post(fake_server, "/v1/messages/batches", {"requests": items[:5]})
    assert resp.status_code == 200, resp.text
