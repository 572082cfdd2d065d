"""Authentication headers, ``anthropic-version``, ``anthropic-beta``, unknown query params,
and the unauthenticated health endpoints."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from conftest import API_KEY, REQUEST_ID_RE, V2023, V2026, LiveServer, assert_error, body

# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize("version", [V2023, V2026])
def test_x_api_key_header_authenticates(fake_server: LiveServer, http: httpx.Client, version: str) -> None:
    resp = http.post(
        "/v1/messages",
        json=body("#say:ok"),
        headers={"x-api-key": API_KEY, "anthropic-version": version},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "ok"


@pytest.mark.parametrize("version", [V2023, V2026])
def test_authorization_bearer_header_authenticates(http: httpx.Client, version: str) -> None:
    resp = http.post(
        "/v1/messages",
        json=body("#say:ok"),
        headers={"authorization": f"Bearer {API_KEY}", "anthropic-version": version},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "ok"


def test_auth_header_names_are_case_insensitive(http: httpx.Client) -> None:
    resp = http.post(
        "/v1/messages",
        json=body("#say:ok"),
        headers={"X-Api-Key": API_KEY, "Anthropic-Version": V2023},
    )
    assert resp.status_code == 200, resp.text


def test_both_auth_headers_with_the_same_valid_key_are_accepted(http: httpx.Client) -> None:
    resp = http.post(
        "/v1/messages",
        json=body("#say:ok"),
        headers={"x-api-key": API_KEY, "authorization": f"Bearer {API_KEY}", "anthropic-version": V2023},
    )
    assert resp.status_code == 200, resp.text


def test_missing_credentials_is_401_authentication_error(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", json=body(), headers={"anthropic-version": V2023})
    assert_error(resp, 401, "authentication_error")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "sk-wrong"},
        {"authorization": "Bearer sk-wrong"},
        {"authorization": f"Basic {API_KEY}"},
        {"authorization": API_KEY},
        {"x-api-key": ""},
        {"x-api-key": API_KEY + "x"},
    ],
    ids=["wrong-x-api-key", "wrong-bearer", "basic-scheme", "no-scheme", "empty-x-api-key", "key-with-suffix"],
)
def test_invalid_credentials_are_401_authentication_error(http: httpx.Client, headers: dict[str, str]) -> None:
    resp = http.post("/v1/messages", json=body(), headers={**headers, "anthropic-version": V2023})
    assert_error(resp, 401, "authentication_error")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/claude-haiku-4-5"),
    ],
)
def test_every_api_route_requires_authentication(http: httpx.Client, method: str, path: str) -> None:
    json_body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}
    resp = http.request(
        method, path, json=json_body if method == "POST" else None, headers={"anthropic-version": V2023}
    )
    assert_error(resp, 401, "authentication_error")


def test_sdk_raises_authentication_error_for_a_wrong_key(fake_server: LiveServer) -> None:
    client = fake_server.client(api_key="sk-not-the-key")
    with pytest.raises(anthropic.AuthenticationError) as info:
        client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 401
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert REQUEST_ID_RE.fullmatch(info.value.request_id or "")


def test_sdk_legacy_x_api_key_style_client_works(fake_server: LiveServer) -> None:
    """Python SDK 1.x style: X-Api-Key header and anthropic-version 2023-06-01."""
    client = anthropic.Anthropic(
        base_url=fake_server.base_url,
        api_key=None,
        auth_token=None,
        max_retries=0,
        default_headers={"X-Api-Key": API_KEY, "anthropic-version": V2023, "Authorization": anthropic.Omit()},
    )
    message = client.messages.create(
        model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "#say:legacy"}]
    )
    assert message.content[0].text == "legacy"  # type: ignore[union-attr]


# ---------------------------------------------------------------- anthropic-version


def test_missing_anthropic_version_is_400(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", json=body(), headers={"x-api-key": API_KEY})
    assert_error(resp, 400, "invalid_request_error", "anthropic-version: header is required")


@pytest.mark.parametrize("value", ["2024-01-01", "latest", "2023-6-1", "2026-10-21-beta"])
def test_invalid_anthropic_version_is_400(http: httpx.Client, value: str) -> None:
    resp = http.post("/v1/messages", json=body(), headers={"x-api-key": API_KEY, "anthropic-version": value})
    assert_error(resp, 400, "invalid_request_error", f'anthropic-version: "{value}" is not a valid version')


def test_comma_joined_duplicate_anthropic_version_is_400(http: httpx.Client) -> None:
    value = "2023-06-01, 2023-06-01"
    resp = http.post("/v1/messages", json=body(), headers={"x-api-key": API_KEY, "anthropic-version": value})
    assert_error(resp, 400, "invalid_request_error", f'anthropic-version: "{value}" is not a valid version')


def test_repeated_anthropic_version_header_lines_are_400(http: httpx.Client) -> None:
    """A header sent twice is the comma-joined value (RFC 9110 5.3), which is not a version."""
    headers = [("x-api-key", API_KEY), ("anthropic-version", V2023), ("anthropic-version", V2023)]
    resp = http.post("/v1/messages", json=body(), headers=headers)
    assert_error(resp, 400, "invalid_request_error", f'anthropic-version: "{V2023}, {V2023}" is not a valid version')


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/models"), ("POST", "/v1/messages/count_tokens")])
def test_anthropic_version_is_required_on_other_routes(http: httpx.Client, method: str, path: str) -> None:
    json_body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}
    resp = http.request(method, path, json=json_body if method == "POST" else None, headers={"x-api-key": API_KEY})
    assert_error(resp, 400, "invalid_request_error", "anthropic-version: header is required")


def test_sdk_default_version_is_2026_and_is_accepted(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "#say:v2026"}]
    )
    assert raw.http_request.headers["anthropic-version"] == V2026
    assert raw.http_request.headers["authorization"] == f"Bearer {API_KEY}"
    assert raw.parse().content[0].text == "v2026"  # type: ignore[union-attr]


def test_sdk_with_2023_version_is_accepted(client_2023: anthropic.Anthropic) -> None:
    raw = client_2023.messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "#say:v2023"}]
    )
    assert raw.http_request.headers["anthropic-version"] == V2023
    assert raw.parse().content[0].text == "v2023"  # type: ignore[union-attr]


# ---------------------------------------------------------------- betas and query params


@pytest.mark.parametrize(
    "beta",
    [
        "token-counting-2024-11-01",
        "totally-unknown-beta-2099-01-01",
        "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,claude-code-20250219",
    ],
)
def test_anthropic_beta_values_are_accepted(fake_server: LiveServer, http: httpx.Client, beta: str) -> None:
    resp = http.post("/v1/messages", json=body("#say:beta"), headers=fake_server.headers(**{"anthropic-beta": beta}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "beta"


def test_repeated_anthropic_beta_headers_are_accepted(fake_server: LiveServer, http: httpx.Client) -> None:
    headers = [*fake_server.headers().items(), ("anthropic-beta", "a-2099-01-01"), ("anthropic-beta", "b-2099-01-01")]
    resp = http.post("/v1/messages", json=body("#say:beta"), headers=headers)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("query", ["?beta=true", "?beta=true&foo=bar", "?unknown[]=a&unknown[]=b"])
def test_unknown_query_parameters_are_ignored(fake_server: LiveServer, http: httpx.Client, query: str) -> None:
    resp = http.post(f"/v1/messages{query}", json=body("#say:q"), headers=fake_server.headers())
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "q"
    resp = http.post(
        f"/v1/messages/count_tokens{query}",
        json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]},
        headers=fake_server.headers(),
    )
    assert resp.status_code == 200, resp.text
    resp = http.get(f"/v1/models{query}", headers=fake_server.headers())
    assert resp.status_code == 200, resp.text


def test_sdk_beta_namespace_works(client: anthropic.Anthropic) -> None:
    message = client.beta.messages.create(
        model="claude-haiku-4-5",
        max_tokens=16,
        messages=[{"role": "user", "content": "#say:beta-ns"}],
        betas=["some-future-beta-2099-01-01"],
    )
    assert message.content[0].text == "beta-ns"  # type: ignore[union-attr]
    count = client.beta.messages.count_tokens(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "#say:beta-ns"}]
    )
    assert count.input_tokens > 0


# ---------------------------------------------------------------- unauthenticated health endpoints


def test_head_root_works_without_auth(http: httpx.Client) -> None:
    resp = http.head("/")
    assert resp.status_code == 200
    assert resp.content == b""
    assert REQUEST_ID_RE.fullmatch(resp.headers["request-id"])


def test_get_root_works_without_auth(http: httpx.Client) -> None:
    resp = http.get("/")
    assert resp.status_code == 200
    assert REQUEST_ID_RE.fullmatch(resp.headers["request-id"])


def test_health_works_without_auth_and_lists_the_served_model(fake_server: LiveServer, http: httpx.Client) -> None:
    resp = http.get("/health")
    assert resp.status_code == 200
    payload = resp.json()
    assert payload["status"] == "ok"
    assert fake_server.model_id in payload["models"]
    assert REQUEST_ID_RE.fullmatch(resp.headers["request-id"])
