"""Structured access logs: one JSON line per request with its request id, never the key
or message content (unless ``log_content`` is on).

The CLI test runs ``epistula serve --log-format json`` as a subprocess and reads what it
wrote to stderr; the in-process tests attach the same JSON formatter to the access logger.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import API_KEY, body, fake_settings, running
from epistula.observability.logs import JsonFormatter, TextFormatter
from processes import KEY, ServeProcess

SECRET_TEXT = "#say:ok\nthe-secret-prompt-text"


class Lines(logging.Handler):
    """Formatted access-log lines, as a log collector would receive them."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture()
def access_lines() -> Iterator[Lines]:
    handler = Lines(JsonFormatter())
    logger = logging.getLogger("epistula.access")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def test_cli_json_logs_one_line_per_request_without_key_or_content(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path, "--log-format", "json")
    try:
        ok = httpx.post(server.base_url + "/v1/messages", json=body(SECRET_TEXT), headers=server.headers())
        assert ok.status_code == 200
        streamed = httpx.post(
            server.base_url + "/v1/messages", json=body(SECRET_TEXT, stream=True), headers=server.headers()
        )
        assert streamed.status_code == 200
        bad_key = httpx.post(
            server.base_url + "/v1/messages",
            json=body(SECRET_TEXT),
            headers={**server.headers(), "x-api-key": "sk-nope"},
        )
        assert bad_key.status_code == 401
    finally:
        server.stop()
    log = server.log()
    lines = [line for line in log.splitlines() if line.strip()]
    parsed = records(lines)  # every line the server wrote is one JSON object
    access = {r["request_id"]: r for r in parsed if r["logger"] == "epistula.access"}
    for resp in (ok, streamed, bad_key):
        assert resp.headers["request-id"] in access
    entry = access[ok.headers["request-id"]]
    assert entry["message"] == "request" and entry["level"] == "info"
    assert entry["method"] == "POST" and entry["path"] == "/v1/messages" and entry["status"] == 200
    assert entry["duration_ms"] >= 0
    assert entry["key_id"].startswith("apikey_") and entry["workspace_id"].startswith("wrkspc_")
    assert entry["model"] and entry["outcome"] == "succeeded"
    assert entry["input_tokens"] == ok.json()["usage"]["input_tokens"]
    assert entry["output_tokens"] == ok.json()["usage"]["output_tokens"] == 2
    stream_entry = access[streamed.headers["request-id"]]
    assert stream_entry["status"] == 200 and stream_entry["output_tokens"] == 2
    assert access[bad_key.headers["request-id"]]["status"] == 401
    assert "key_id" not in access[bad_key.headers["request-id"]]
    assert KEY not in log and "sk-nope" not in log
    assert "the-secret-prompt-text" not in log


def test_log_content_puts_the_request_body_in_the_record(tmp_path: Path, access_lines: Lines) -> None:
    with running(fake_settings(tmp_path, log_content=True)) as live:
        resp = httpx.post(live.base_url + "/v1/messages", json=body(SECRET_TEXT), headers=live.headers())
    entry = next(r for r in records(access_lines.lines) if r["request_id"] == resp.headers["request-id"])
    assert json.loads(entry["request_body"])["messages"][0]["content"] == SECRET_TEXT
    assert API_KEY not in "\n".join(access_lines.lines)


def test_content_is_off_by_default_and_429s_are_logged_with_model_and_key(tmp_path: Path, access_lines: Lines) -> None:
    from epistula.config import RateLimitConfig

    with running(fake_settings(tmp_path, rate_limits=[RateLimitConfig(requests_per_minute=1)])) as live:
        first = httpx.post(live.base_url + "/v1/messages", json=body(SECRET_TEXT), headers=live.headers())
        second = httpx.post(live.base_url + "/v1/messages", json=body(SECRET_TEXT), headers=live.headers())
    assert (first.status_code, second.status_code) == (200, 429)
    by_id = {r["request_id"]: r for r in records(access_lines.lines)}
    refused = by_id[second.headers["request-id"]]
    assert refused["status"] == 429 and refused["model"] == live.model_id and refused["key_id"].startswith("apikey_")
    assert "request_body" not in by_id[first.headers["request-id"]]
    assert "the-secret-prompt-text" not in "\n".join(access_lines.lines)


def test_text_format_keeps_the_fields() -> None:
    record = logging.makeLogRecord({"name": "epistula.access", "msg": "request", "levelname": "INFO"})
    record.request_id = "req_abc"
    record.status = 200
    line = TextFormatter().format(record)
    assert line.endswith('request request_id="req_abc" status=200')
