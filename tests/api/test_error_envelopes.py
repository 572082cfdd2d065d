"""Every error path returns the Anthropic envelope and a ``request-id`` header equal to the
body's ``request_id``; every success response carries a ``request-id`` too."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import anthropic
import httpx
import pytest

from conftest import (
    API_KEY,
    MODEL,
    REQUEST_ID_RE,
    V2023,
    LiveServer,
    assert_error,
    body,
)

JSON = "application/json"


def _headers(**extra: str) -> dict[str, str]:
    return {"x-api-key": API_KEY, "anthropic-version": V2023, **extra}


# ---------------------------------------------------------------- request-level errors


def test_malformed_json_is_400(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", content=b'{"model": "x", ', headers=_headers(**{"content-type": JSON}))
    assert_error(resp, 400, "invalid_request_error")


def test_invalid_utf8_body_is_400(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", content=b'{"model": "\xff\xfe"}', headers=_headers(**{"content-type": JSON}))
    assert_error(resp, 400, "invalid_request_error")


@pytest.mark.parametrize("payload", [b"[]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_400(http: httpx.Client, payload: bytes) -> None:
    resp = http.post("/v1/messages", content=payload, headers=_headers(**{"content-type": JSON}))
    assert_error(resp, 400, "invalid_request_error")


def test_empty_body_is_400(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", content=b"", headers=_headers(**{"content-type": JSON}))
    assert_error(resp, 400, "invalid_request_error")


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_wrong_content_type_is_400(http: httpx.Client, ctype: str) -> None:
    resp = http.post("/v1/messages", content=json.dumps(body()).encode(), headers=_headers(**{"content-type": ctype}))
    assert_error(resp, 400, "invalid_request_error")


def test_json_content_type_with_charset_is_accepted(http: httpx.Client) -> None:
    resp = http.post(
        "/v1/messages",
        content=json.dumps(body("#say:ok")).encode(),
        headers=_headers(**{"content-type": "application/json; charset=utf-8"}),
    )
    assert resp.status_code == 200, resp.text


def test_validation_error_is_400_with_envelope(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", json={"model": MODEL, "messages": []}, headers=_headers())
    assert_error(resp, 400, "invalid_request_error")


@pytest.mark.parametrize("path", ["/v1/nope", "/v2/messages", "/v1/messages/nope/deeper", "/" + "x" * 50])
def test_unknown_route_is_404_not_found_error(http: httpx.Client, path: str) -> None:
    resp = http.get(path, headers=_headers())
    assert_error(resp, 404, "not_found_error")


def test_unknown_route_post_is_404_not_found_error(http: httpx.Client) -> None:
    resp = http.post("/v1/complete-me", json=body(), headers=_headers())
    assert_error(resp, 404, "not_found_error")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/messages", "POST"),
        ("DELETE", "/v1/messages", "POST"),
        ("PUT", "/v1/messages/count_tokens", "POST"),
        ("POST", "/v1/models", "GET"),
        ("DELETE", "/v1/models/claude-haiku-4-5", "GET"),
    ],
)
def test_wrong_method_is_405_with_envelope(http: httpx.Client, method: str, path: str, allowed: str) -> None:
    resp = http.request(method, path, headers=_headers())
    assert resp.status_code == 405
    assert_error(resp, 405, resp.json()["error"]["type"])
    assert resp.json()["error"]["type"] in {"invalid_request_error", "not_found_error"}


def test_405_response_names_the_allowed_methods(http: httpx.Client) -> None:
    """RFC 9110 15.5.6: a 405 response MUST carry an ``Allow`` header."""
    resp = http.get("/v1/messages", headers=_headers())
    assert resp.status_code == 405
    assert "POST" in resp.headers.get("allow", ""), dict(resp.headers)


# ---------------------------------------------------------------- body size limit


def test_body_over_32_mb_is_413_request_too_large(http: httpx.Client) -> None:
    limit = 32 * 1024 * 1024
    padding = limit + 1 - len(json.dumps(body()).encode()) - len(', "pad": ""')
    payload = json.dumps(body())[:-1] + ', "pad": "' + "x" * padding + '"}'
    data = payload.encode()
    assert len(data) == limit + 1
    try:
        resp = http.post("/v1/messages", content=data, headers=_headers(**{"content-type": JSON}))
    except httpx.TransportError as exc:  # the server may answer and close before reading it all
        pytest.fail(f"the server dropped the connection instead of answering 413: {exc!r}")
    assert_error(resp, 413, "request_too_large")


def test_body_at_the_limit_is_not_413(small_body_server: LiveServer) -> None:
    raw = json.dumps(body("#say:fits")).encode()
    data = raw[:-1] + b" " * (4096 - len(raw)) + b"}"
    assert len(data) == 4096
    resp = httpx.post(
        small_body_server.base_url + "/v1/messages", content=data, headers=_headers(**{"content-type": JSON})
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "fits"


def test_body_one_byte_over_the_limit_is_413(small_body_server: LiveServer) -> None:
    raw = json.dumps(body("#say:fits")).encode()
    data = raw[:-1] + b" " * (4097 - len(raw)) + b"}"
    resp = httpx.post(
        small_body_server.base_url + "/v1/messages", content=data, headers=_headers(**{"content-type": JSON})
    )
    assert_error(resp, 413, "request_too_large")


def test_chunked_body_over_the_limit_is_413(small_body_server: LiveServer) -> None:
    """No Content-Length: the limit must be enforced while streaming the body in."""

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "claude-haiku-4-5", "max_tokens": 5, "pad": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'", "messages": [{"role": "user", "content": "hi"}]}'

    resp = httpx.post(
        small_body_server.base_url + "/v1/messages", content=chunks(), headers=_headers(**{"content-type": JSON})
    )
    assert "content-length" not in resp.request.headers
    assert_error(resp, 413, "request_too_large")


def test_count_tokens_body_over_the_limit_is_413(small_body_server: LiveServer) -> None:
    payload = {"model": MODEL, "messages": [{"role": "user", "content": "x" * 5000}]}
    resp = httpx.post(small_body_server.base_url + "/v1/messages/count_tokens", json=payload, headers=_headers())
    assert_error(resp, 413, "request_too_large")


# ---------------------------------------------------------------- engine failures


def test_engine_failure_before_first_token_is_500_api_error(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", json=body("#fail-before"), headers=_headers())
    assert_error(resp, 500, "api_error")


def test_engine_failure_mid_generation_non_streaming_is_500_api_error(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", json=body("#fail-after:3"), headers=_headers())
    assert_error(resp, 500, "api_error")


def test_streaming_engine_failure_before_first_token_is_plain_http_500(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", json=body("#fail-before", stream=True), headers=_headers())
    assert_error(resp, 500, "api_error")


@pytest.mark.parametrize("stream", [False, True])
def test_overload_is_529_overloaded_error_with_retry_after(http: httpx.Client, stream: bool) -> None:
    resp = http.post("/v1/messages", json=body("#overload", stream=stream), headers=_headers())
    assert_error(resp, 529, "overloaded_error")
    retry_after = resp.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1


def test_sdk_maps_529_to_overloaded_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.OverloadedError) as info:
        client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "#overload"}])
    assert info.value.status_code == 529
    assert REQUEST_ID_RE.fullmatch(info.value.request_id or "")


def test_sdk_retries_529_after_retry_after(fake_server: LiveServer) -> None:
    """The SDK retries 529 and waits ``retry-after``; every attempt gets a fresh request id."""
    client = fake_server.client(max_retries=1)
    t0 = time.monotonic()
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "#overload"}])
    assert time.monotonic() - t0 >= 0.9


def test_sdk_maps_500_to_internal_server_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as info:
        client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "#fail-before"}])
    assert info.value.status_code == 500
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_sdk_maps_400_to_bad_request_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=MODEL, max_tokens=8, messages=[])
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


def test_sdk_maps_unknown_model_to_not_found_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="claude-nope-9", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["error"]["message"] == "model: claude-nope-9"  # type: ignore[index]


# ---------------------------------------------------------------- request-id on every response


@pytest.mark.parametrize(
    ("method", "path", "payload", "status"),
    [
        ("POST", "/v1/messages", body("#say:ok"), 200),
        ("POST", "/v1/messages/count_tokens", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, 200),
        ("GET", "/v1/models", None, 200),
        ("GET", "/v1/models/claude-haiku-4-5", None, 200),
        ("GET", "/health", None, 200),
        ("HEAD", "/", None, 200),
        ("GET", "/v1/nope", None, 404),
        ("POST", "/v1/messages", {"model": MODEL}, 400),
    ],
)
def test_every_response_has_a_request_id_and_organization_header(
    http: httpx.Client, method: str, path: str, payload: dict[str, object] | None, status: int
) -> None:
    resp = http.request(method, path, json=payload, headers=_headers())
    assert resp.status_code == status, resp.text
    assert REQUEST_ID_RE.fullmatch(resp.headers.get("request-id", "")), dict(resp.headers)
    assert resp.headers.get("anthropic-organization-id")


def test_request_ids_are_unique_per_response(http: httpx.Client) -> None:
    ids = {http.get("/health").headers["request-id"] for _ in range(20)}
    assert len(ids) == 20


def test_sdk_exposes_request_id_of_a_message(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "#say:id"}]
    )
    message = raw.parse()
    assert REQUEST_ID_RE.fullmatch(raw.headers["request-id"])
    assert message._request_id == raw.headers["request-id"]


def test_error_on_streaming_request_before_stream_has_json_content_type(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", json=body("#say:x", stream=True, max_tokens=-1), headers=_headers())
    assert_error(resp, 400, "invalid_request_error")
