"""Schema budgets over the wire: a tool's ``input_schema`` or an output format's schema
over a budget is a ``400 invalid_request_error`` naming the field, on every engine and on
``count_tokens`` too."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import API_KEY, V2023, assert_error, body

COUNT = ("/v1/messages", "/v1/messages/count_tokens")


def deep(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return {"type": "object", "properties": {"v": schema}}


def post(http: httpx.Client, path: str, payload: dict[str, Any] | str) -> httpx.Response:
    headers = {"x-api-key": API_KEY, "anthropic-version": V2023, "content-type": "application/json"}
    if isinstance(payload, str):
        return http.post(path, content=payload, headers=headers)
    if path.endswith("count_tokens"):
        payload = {k: v for k, v in payload.items() if k != "max_tokens"}
    return http.post(path, json=payload, headers=headers)


def assert_refused(http: httpx.Client, path: str, payload: dict[str, Any] | str, **text: str) -> None:
    """``payload`` at ``path`` is a ``400 invalid_request_error``; ``text`` gives its
    ``message``, or what it ``contains``."""
    assert_error(post(http, path, payload), 400, "invalid_request_error", **text)


@pytest.mark.parametrize("path", COUNT)
def test_deep_tool_schema_is_400_with_its_path(http: httpx.Client, path: str) -> None:
    ok = {"name": "ok", "input_schema": {"type": "object"}}
    payload = body(tools=[ok, {"name": "deep", "input_schema": deep(40)}])
    assert_refused(http, path, payload, contains="tools.1.input_schema: schema depth 33 exceeds the limit of 32")


def test_output_format_schema_is_checked(http: httpx.Client) -> None:
    payload = body(output_config={"format": {"type": "json_schema", "schema": {"enum": list(range(5_000))}}})
    assert_refused(
        http, "/v1/messages", payload, message="output_config.format.schema.enum: 5000 values exceed the limit of 1000"
    )


def test_non_finite_bound_in_the_body_is_400(http: httpx.Client) -> None:
    raw = (
        '{"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], '
        '"tools": [{"name": "t", "input_schema": {"type": "object", "properties": '
        '{"n": {"type": "integer", "maximum": Infinity}}}}]}'
    )
    assert_refused(
        http, "/v1/messages", raw, message="tools.0.input_schema.properties.n.maximum: must be a finite number"
    )


def test_a_schema_within_budgets_is_served(http: httpx.Client) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 1e300}}, "$defs": {}}
    response = post(http, "/v1/messages", body(tools=[{"name": "t", "input_schema": schema}]))
    assert response.status_code == 200, response.text
