"""Issue 11 #4 (the /health bound under hostile fuzz): a big request body is checked in a
worker process before the server's own process decodes it, so one that would be refused
(a multi-MB hostile schema) never holds the server's GIL; and the schema budgets are
checked on the raw JSON, before validation copies and hashes a multi-MB schema.

The refusals are the ones the in-process path gives (same status, type and message)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
import pytest

import epistula.api.request as request_module
from conftest import MODEL, LiveServer, assert_error
from epistula.api.request import PREFLIGHT_BYTES, params_refusal, parse
from epistula.api.workers import Refusal, WorkerPool
from epistula.constraints.tools import check_tool_schemas
from epistula.errors import ApiError, InternalServerError, InvalidRequestError, RequestTooLargeError
from epistula.generation.budgets import check_schema_budgets
from epistula.protocol.messages import MessageCreateParams


def _deep(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for i in range(depth):
        schema = {"type": "object", "properties": {f"k{i}": schema}}
    return schema


def _wide(width: int) -> dict[str, Any]:
    return {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(width)}}


OVER_BUDGET = {
    "size": {"type": "object", "properties": {"x": {"const": "x" * 70_000}}},
    "depth": _deep(40),
    "properties": _wide(1_500),
    "enum": {"type": "object", "properties": {"x": {"enum": list(range(2_000))}}},
    "bad type": {"type": "object", "properties": {"x": {"type": "strnig"}}},
}
VERSIONED = {"type": "bash_20250124", "name": "bash"}


def _body(schema: dict[str, Any], where: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    fmt = {"type": "json_schema", "schema": schema}
    if where == "tool":
        body["tools"] = [VERSIONED, {"name": "t", "input_schema": {"$schema": "x", **schema}}]
    elif where == "output_config":
        body["output_config"] = {"format": fmt}
    else:
        body["output_format"] = fmt
    return body


def _message(check: Any) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        check()
    return caught.value.message


@pytest.mark.parametrize("where", ["tool", "output_config", "output_format"])
@pytest.mark.parametrize("kind", sorted(OVER_BUDGET))
def test_the_raw_check_refuses_as_the_grammar_step_does(kind: str, where: str) -> None:
    raw = _body(OVER_BUDGET[kind], where)
    params = parse(MessageCreateParams, json.loads(json.dumps(raw)))  # validation accepts it
    fmt = params.output_config.format if params.output_config else params.output_format
    path = "output_config.format.schema" if params.output_config else "output_format.schema"
    grammar_step = _message(
        lambda: check_tool_schemas(list(params.tools or []), dict(fmt.schema_) if fmt else None, path)
    )
    assert _message(lambda: check_schema_budgets(raw)) == grammar_step


def test_the_raw_check_leaves_what_is_not_a_schema_object_to_validation() -> None:
    check_schema_budgets({"tools": [{"name": "t", "input_schema": "no"}, VERSIONED, "x"], "output_config": 5})
    check_schema_budgets({"output_config": {"format": None}, "output_format": {"schema": [1]}})


def _post(live: LiveServer, path: str, payload: dict[str, Any]) -> httpx.Response:
    data = json.dumps(payload).encode()
    return httpx.post(f"{live.base_url}{path}", content=data, headers=live.headers(), timeout=120)


def _huge_schema() -> dict[str, Any]:
    """About 2 MB of nested objects: what the hostile-schema fuzz sends."""
    return {"type": "object", "properties": {f"p{i}": _deep(8) for i in range(3_000)}}


def test_a_big_hostile_body_is_refused_without_this_process_decoding_it(
    fake_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[int] = []
    real = request_module.decode_json
    monkeypatch.setattr(request_module, "decode_json", lambda body: decoded.append(len(body)) or real(body))
    for where, path in (("tool", "/v1/messages"), ("output_config", "/v1/messages/count_tokens")):
        body = _body(_huge_schema(), where)
        assert len(json.dumps(body)) > PREFLIGHT_BYTES
        resp = _post(fake_server, path, body)
        expected = "tools.1.input_schema" if where == "tool" else "output_config.format.schema"
        assert_error(resp, 400, "invalid_request_error", f"{expected}: schema size exceeds the limit of 65536 bytes")
    assert decoded == []  # the worker process decoded them (it does not see this patch)
    assert fake_server.state.workers.started >= 1


def test_a_big_body_that_passes_is_served(fake_server: LiveServer) -> None:
    text = "lorem ipsum, " * (PREFLIGHT_BYTES // 10)
    resp = _post(
        fake_server, "/v1/messages/count_tokens", {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    )
    assert resp.status_code == 200, resp.text
    small = _post(
        fake_server, "/v1/messages/count_tokens", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert resp.json()["input_tokens"] > small.json()["input_tokens"] + len(text) // 10


def test_a_big_invalid_body_gets_the_same_refusal_as_a_small_one(fake_server: LiveServer) -> None:
    for pad in ("", "x" * PREFLIGHT_BYTES):
        body = {"model": MODEL, "max_tokens": "8", "messages": [{"role": "user", "content": "hi" + pad}]}
        assert_error(
            _post(fake_server, "/v1/messages", body),
            400,
            "invalid_request_error",
            "max_tokens: Input should be a valid integer",
        )
    broken = b'{"model": "m", "messages": [' + b"[]," * PREFLIGHT_BYTES
    resp = httpx.post(f"{fake_server.base_url}/v1/messages", content=broken, headers=fake_server.headers(), timeout=120)
    assert_error(resp, 400, "invalid_request_error", contains="The request body is not valid JSON")


def _exit_now() -> None:
    os._exit(3)


def test_the_pool_replaces_a_worker_that_died_and_recycles_after_its_tasks() -> None:
    async def scenario() -> None:
        pool = WorkerPool(recycle_after=2)
        try:
            assert await pool.run(os.getpid) != os.getpid()
            with pytest.raises(InternalServerError):
                await pool.run(_exit_now)
            first = await pool.run(os.getpid)
            assert await pool.run(os.getpid) == first
            assert await pool.run(os.getpid) != first  # the third task of a pool recycling after 2
            assert pool.started == 3
        finally:
            await pool.close()
        assert pool.started == 3

    asyncio.run(scenario())


def test_a_body_that_decodes_past_the_memory_cap_is_a_413_and_the_worker_survives() -> None:
    body = b"[" + b"[]," * 3_000_000 + b"[]]"  # about 9 MB that decode to 3 million lists

    async def scenario() -> tuple[Refusal | None, Refusal | None]:
        pool = WorkerPool(memory_bytes=256 << 20)
        try:
            over = await pool.run(params_refusal, body, MessageCreateParams, None)
            after = await pool.run(params_refusal, b"{}", MessageCreateParams, None)
            return over, after
        finally:
            await pool.close()

    over, after = asyncio.run(scenario())
    assert over is not None and after is not None
    error: ApiError = over.error()
    assert isinstance(error, RequestTooLargeError) and error.status == 413
    assert after.kind is InvalidRequestError and after.message.startswith("model: Field required")
