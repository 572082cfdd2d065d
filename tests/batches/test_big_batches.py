"""A batch whose create body is over ``PREFLIGHT_BYTES`` is decoded and validated in the
worker process (this process only stores what comes back), through the official SDK over a
real socket: every request arrives whole, and every refusal is the one a small body gets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

import epistula.api.anthropic.batches as batches_api
import epistula.batches.service as service_module
from epistula.api.anthropic.batch_preflight import read_requests, write_requests
from epistula.api.request import PREFLIGHT_BYTES, decode_json
from epistula.batches.service import ValidBatch
from epistula.errors import InvalidRequestError

from .support import Live, wait_ended

MODEL = "claude-haiku-4-5"
SMALL = 1_000
MID_TEXT = 6_000
"""Bytes after the directive of a request the fake engine (8,192-token window) still serves."""
BIG_TEXT = 150_000
"""Bytes after the directive of each big request: its run-time error counts them."""


def _request(custom_id: str, content: str, max_tokens: int = 16) -> Any:
    params = {"model": MODEL, "max_tokens": max_tokens, "messages": [{"role": "user", "content": content}]}
    return {"custom_id": custom_id, "params": params}


def _requests() -> list[Any]:
    small = [_request(f"s-{i}", f"#say:héllo ✓ {i}", max_tokens=3 if i == 5 else 32) for i in range(SMALL)]
    big = [_request(f"big-{i}", f"#say:big {i}\n" + "z" * BIG_TEXT) for i in range(2)]
    mid = _request("mid", "#say:mid\n" + "m" * MID_TEXT)
    return small[:400] + big[:1] + small[400:] + [mid, *big[1:]]


@pytest.fixture()
def in_process_decoding(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Sizes of the bodies this process decoded or validated for a create (the worker
    process does not see these patches)."""
    seen: list[int] = []
    decode = batches_api.decode_json
    validate = service_module.validated_batch
    monkeypatch.setattr(batches_api, "decode_json", lambda body: seen.append(len(body)) or decode(body))
    monkeypatch.setattr(
        service_module, "validated_batch", lambda raw, version: seen.append(-1) or validate(raw, version)
    )
    yield seen


def test_a_big_batch_arrives_whole(
    batch_server: Live, client: anthropic.Anthropic, in_process_decoding: list[int]
) -> None:
    requests = _requests()
    assert len(json.dumps({"requests": requests})) > PREFLIGHT_BYTES
    batch = client.messages.batches.create(requests=requests)
    assert in_process_decoding == []
    assert batch.request_counts.processing == SMALL + 3
    assert batch_server.state.workers.started >= 1

    done = wait_ended(client, batch.id, timeout=120.0)
    assert (done.request_counts.succeeded, done.request_counts.errored) == (SMALL + 1, 2)
    results = [(line.custom_id, line.result) for line in client.messages.batches.results(batch.id)]
    assert [cid for cid, _ in results] == [r["custom_id"] for r in requests]  # stored in order
    by_id: dict[str, Any] = dict(results)
    for i in (0, 399, 400, SMALL - 1):
        message = by_id[f"s-{i}"].message
        assert message.content[0].text == f"héllo ✓ {i}"
    cut = by_id["s-5"].message
    assert (cut.stop_reason, cut.usage.output_tokens, cut.content[0].text) == ("max_tokens", 3, "hé")
    assert by_id["mid"].message.content[0].text == "mid"
    assert by_id["mid"].message.usage.input_tokens > MID_TEXT
    for i in range(2):  # too long for the fake engine's window: the error counts every byte that arrived
        error = by_id[f"big-{i}"].error.error
        assert error.type == "invalid_request_error"
        tokens = int(re.search(r"(\d+) tokens", error.message.replace(",", ""))[1])  # type: ignore[index]
        assert BIG_TEXT < tokens < BIG_TEXT + 100, error.message


def _post(live: Live, body: bytes) -> httpx.Response:
    headers = live.headers(**{"content-type": "application/json"})
    return httpx.post(f"{live.base_url}/v1/messages/batches", headers=headers, content=body, timeout=60)


def _error(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 400, resp.text
    envelope = resp.json()
    assert envelope["type"] == "error" and envelope["request_id"].startswith("req_")
    error: dict[str, Any] = envelope["error"]
    assert error["type"] == "invalid_request_error"
    return error


BAD_ITEMS = {
    "max_tokens": _request("bad", "x") | {"params": {"model": MODEL, "max_tokens": "8", "messages": []}},
    "duplicate": _request("s-3", "x"),
    "stream": _request("bad", "x") | {"params": _request("", "x")["params"] | {"stream": True}},
}


@pytest.mark.parametrize("kind", sorted(BAD_ITEMS))
def test_a_bad_request_deep_in_a_big_body_is_refused_as_in_a_small_one(
    batch_server: Live, in_process_decoding: list[int], kind: str
) -> None:
    padding = [_request(f"s-{i}", "#say:x" + "y" * 200) for i in range(1_500)]
    big = json.dumps({"requests": [*padding, BAD_ITEMS[kind]]}).encode()
    assert len(big) > PREFLIGHT_BYTES
    big_error = _error(_post(batch_server, big))
    assert in_process_decoding == []
    small_error = _error(_post(batch_server, json.dumps({"requests": [*padding[:4], BAD_ITEMS[kind]]}).encode()))
    assert big_error["message"] == small_error["message"].replace("requests.4.", "requests.1500.")
    assert big_error["message"].startswith("requests.1500.")


def test_a_big_body_that_is_not_json_is_refused_with_the_decoders_message(batch_server: Live) -> None:
    body = json.dumps({"requests": [_request(f"s-{i}", "y" * 200) for i in range(1_500)]}).encode()[:-2]
    with pytest.raises(InvalidRequestError) as expected:
        decode_json(body)
    assert _error(_post(batch_server, body))["message"] == expected.value.message


def test_the_requests_file_gives_back_every_params_text(tmp_path: Path) -> None:
    texts = ["a\u2028b\u2029c\x85d ✓ \U0001f600", 'quote " back \\ slash', "tab\tnew\nline\rcr"]
    params = [json.dumps({"content": t}, ensure_ascii=False, separators=(",", ":")) for t in texts]
    valid = ValidBatch(["a", "b-1", "c_2"], params, 123)
    write_requests(tmp_path / "requests.tsv", valid)
    assert read_requests(tmp_path / "requests.tsv", 123) == valid
