"""Issue 11 #16: engine error text stays in the log, authenticated JSON is never cached,
and ``results_url`` is never built from the client's ``Host`` header."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import pytest

from conftest import REQUEST_ID_RE, LiveServer, body, fake_settings, running, server_fixture

server = server_fixture("server", "responses")


def _post(live: LiveServer, payload: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(f"{live.base_url}/v1/messages", json=payload, headers=live.headers(**headers), timeout=30)


@pytest.mark.parametrize("text", ["#fail-before", "#fail-after:3"])
def test_engine_failure_text_is_logged_not_sent(
    server: LiveServer, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="epistula.engine"):
        resp = _post(server, body(text))
    assert resp.status_code == 500
    error = resp.json()
    assert error["error"] == {"type": "api_error", "message": "Internal server error"}
    assert REQUEST_ID_RE.fullmatch(error["request_id"])
    logged = [r for r in caplog.records if r.name == "epistula.engine"]
    assert any("injected failure" in getattr(r, "detail", "") for r in logged)
    assert any(getattr(r, "request_id", None) == error["request_id"] for r in logged)


def test_mid_stream_engine_failure_event_is_generic(server: LiveServer) -> None:
    resp = _post(server, body("#say:abcdef #fail-after:3", stream=True))
    assert resp.status_code == 200
    errors = [json.loads(line[6:]) for line in resp.text.splitlines() if line.startswith("data: ")]
    error = next(e for e in errors if e["type"] == "error")
    assert error["error"]["message"] == "Internal server error"
    assert "injected" not in resp.text


def test_authenticated_json_is_no_store(server: LiveServer) -> None:
    assert _post(server, body("#say:hi")).headers["cache-control"] == "no-store"
    models = httpx.get(f"{server.base_url}/v1/models", headers=server.headers())
    assert models.headers["cache-control"] == "no-store"
    denied = httpx.get(f"{server.base_url}/v1/models", headers={"x-api-key": "sk-epi-api01-nope"})
    assert denied.status_code == 401 and denied.headers["cache-control"] == "no-store"


def _ended_batch(live: LiveServer, **headers: str) -> dict[str, Any]:
    request = {"custom_id": "a", "params": body("#say:hi")}
    created = httpx.post(
        f"{live.base_url}/v1/messages/batches", json={"requests": [request]}, headers=live.headers(**headers)
    )
    assert created.status_code == 200, created.text
    url = f"{live.base_url}/v1/messages/batches/{created.json()['id']}"
    for _ in range(600):
        batch: dict[str, Any] = httpx.get(url, headers=live.headers(**headers)).json()
        if batch["processing_status"] == "ended":
            return batch
        time.sleep(0.05)
    raise AssertionError("the batch did not end")


def test_results_url_ignores_the_host_header(server: LiveServer) -> None:
    batch = _ended_batch(server, host="evil.example")
    assert batch["results_url"] == f"{server.base_url}/v1/messages/batches/{batch['id']}/results"


def test_results_url_uses_the_configured_public_base_url(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running(fake_settings(tmp_path_factory.mktemp("public"), public_base_url="https://api.example.com/")) as live:
        batch = _ended_batch(live, host="evil.example")
        assert batch["results_url"] == f"https://api.example.com/v1/messages/batches/{batch['id']}/results"
