"""Minimal reproductions of what the schemathesis fuzz (test_schemathesis.py) found, one
test per bug, so each stays fixed even when a fuzz run does not happen to draw it again."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from conftest import API_KEY, V2023, assert_error, body


def _headers(**extra: str) -> dict[str, str]:
    return {"x-api-key": API_KEY, "anthropic-version": V2023, **extra}


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/messages/batches", {"GET", "HEAD", "POST"}),
        ("/v1/messages/batches/msgbatch_x", {"DELETE", "GET", "HEAD"}),
        ("/v1/files", {"GET", "HEAD", "POST"}),
        ("/v1/files/file_x", {"DELETE", "GET", "HEAD"}),
        ("/v1/messages", {"POST"}),
    ],
)
def test_405_allow_lists_every_method_of_the_path(http: httpx.Client, path: str, allowed: set[str]) -> None:
    """Found by ``allow_header_conformance``: with one route per method, ``Allow`` named only
    the methods of the first route that matched the path (``OPTIONS /v1/files`` -> ``Allow: POST``)."""
    resp = http.request("OPTIONS", path, headers=_headers())
    assert_error(resp, 405, "invalid_request_error")
    assert {m.strip() for m in resp.headers["allow"].split(",")} == allowed


@pytest.mark.parametrize(
    "extra",
    [
        {"max_tokens": True},
        {"max_tokens": "64"},
        {"top_k": False},
        {"stream": 0},
        {"stream": "false"},
        {"temperature": True},
    ],
    ids=lambda extra: f"{next(iter(extra))}={next(iter(extra.values()))!r}",
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/batches"])
def test_json_scalars_are_not_coerced(http: httpx.Client, path: str, extra: dict[str, object]) -> None:
    """Found by ``negative_data_rejection``: pydantic's lax mode turned ``"top_k": false`` into 0
    and ``"max_tokens": true`` into a one-token reply; a batch with such params was accepted."""
    params = {**body(), **extra}
    payload = {"requests": [{"custom_id": "a", "params": params}]} if "batches" in path else params
    resp = http.post(path, json=payload, headers=_headers())
    name = next(iter(extra))
    assert_error(resp, 400, "invalid_request_error", contains=name)


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/v1/messages", body("hi \ud800 there")),
        ("/v1/messages", body("hi", stream=True, system="\udfff")),
        ("/v1/messages", body("hi", model="\ud800")),
        (
            "/v1/messages/count_tokens",
            {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "\udc80"}]},
        ),
        ("/v1/messages/batches", {"requests": [{"custom_id": "a", "params": body("x\ud800")}]}),
    ],
    ids=["text", "system-stream", "model", "count-tokens", "batch"],
)
def test_lone_surrogate_escapes_are_400(http: httpx.Client, path: str, payload: dict[str, object]) -> None:
    """Found probing what schemathesis cannot draw (test_text_fuzz.py finds it too): ``"\\ud800"``
    is valid JSON but no UTF-8 string, so
    the tokenizer, the database and even the error JSON that echoed the model name raised
    ``UnicodeEncodeError`` (500). Now the body is refused up front."""
    raw = json.dumps(payload)  # ensure_ascii: the surrogate travels as the escape \ud800
    assert "\\ud" in raw or "\\udc" in raw
    resp = http.post(path, content=raw.encode(), headers=_headers(**{"content-type": "application/json"}))
    payload_out = assert_error(resp, 400, "invalid_request_error", contains="surrogate")
    assert payload_out["error"]["details"] == {"error_code": "request_body_encoding_invalid"}


def test_paired_surrogate_escapes_are_fine(http: httpx.Client) -> None:
    """An escaped pair (what ``ensure_ascii`` JSON encoders send for emoji) is one character."""
    raw = json.dumps(body("#say:ok \U0001f600"))
    assert "\\ud83d\\ude00" in raw
    resp = http.post("/v1/messages", content=raw.encode(), headers=_headers(**{"content-type": "application/json"}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "ok \U0001f600"


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens", "/v1/messages/batches"])
def test_json_nested_too_deeply_is_400(http: httpx.Client, path: str) -> None:
    """Found probing past schemathesis: ``json.loads`` raised RecursionError (500) on a body
    nested some thousand levels deep."""
    raw = ("[" * 100_000 + "]" * 100_000).encode()
    resp = http.post(path, content=raw, headers=_headers(**{"content-type": "application/json"}))
    assert_error(resp, 400, "invalid_request_error", contains="nested too deeply")


def _deep_tool_params() -> str:
    schema = '{"type":"object","properties":' + _nested(300) + "}"
    return (
        '{"model":"claude-haiku-4-5","max_tokens":16,"messages":[{"role":"user","content":"#say:deep"}],'
        '"tools":[{"name":"t","input_schema":' + schema + "}]}"
    )


def test_batch_item_nested_past_200_levels_succeeds(http: httpx.Client) -> None:
    """Found by the fuzz's batch-results check: the runner re-read stored params with pydantic's
    JSON parser, which stops at 200 levels, so an item the create endpoint (and a direct
    request) accepted ended ``errored`` with ``api_error``: a 500 in disguise."""
    headers = _headers(**{"content-type": "application/json"})
    direct = http.post("/v1/messages", content=_deep_tool_params().encode(), headers=headers)
    assert direct.status_code == 200, direct.text
    raw = '{"requests":[{"custom_id":"deep","params":' + _deep_tool_params() + "}]}"
    created = http.post("/v1/messages/batches", content=raw.encode(), headers=headers)
    assert created.status_code == 200, created.text
    batch_id = created.json()["id"]
    deadline = time.monotonic() + 60
    while http.get(f"/v1/messages/batches/{batch_id}", headers=headers).json()["processing_status"] != "ended":
        assert time.monotonic() < deadline, "the batch did not end"
        time.sleep(0.05)
    lines = http.get(f"/v1/messages/batches/{batch_id}/results", headers=headers).text.splitlines()
    result = json.loads(lines[0])["result"]
    assert result["type"] == "succeeded", result
    assert result["message"]["content"][0]["text"] == "deep"
