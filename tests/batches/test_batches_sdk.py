"""Message Batches through the official SDK over a real socket (fake engine)."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import timedelta
from typing import Any

import anthropic
import httpx
import pytest

from .support import Live, wait_ended

MODEL = "claude-haiku-4-5"


def req(custom_id: str, text: str, **extra: Any) -> Any:
    """One batch request (typed ``Any``: the SDK's TypedDicts are stricter than this test needs)."""
    params = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": text}], **extra}
    return {"custom_id": custom_id, "params": params}


def results_by_id(client: anthropic.Anthropic, batch_id: str) -> dict[str, Any]:
    """Results keyed by custom_id (``Any``: the result union is narrowed by the asserts)."""
    out: dict[str, Any] = {}
    for line in client.messages.batches.results(batch_id):
        assert line.custom_id not in out, f"duplicate result for {line.custom_id}"
        out[line.custom_id] = line.result
    return out


def test_create_poll_and_fetch_results(batch_server: Live, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(
        requests=[req("alpha", "#say:one"), req("beta", "#say:two"), req("gamma-3", "#say:three")]
    )
    assert batch.id.startswith("msgbatch_01")
    assert batch.type == "message_batch"
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 3
    assert (batch.request_counts.succeeded, batch.request_counts.errored) == (0, 0)
    assert batch.results_url is None and batch.ended_at is None
    assert batch.expires_at - batch.created_at == timedelta(hours=24)

    done = wait_ended(client, batch.id)
    counts = done.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.canceled, counts.expired) == (0, 3, 0, 0, 0)
    assert done.ended_at is not None and done.ended_at >= done.created_at
    assert done.results_url == f"{batch_server.base_url}/v1/messages/batches/{batch.id}/results"

    results = results_by_id(client, batch.id)
    assert set(results) == {"alpha", "beta", "gamma-3"}
    texts = {cid: r.message.content[0].text for cid, r in results.items()}
    assert texts == {"alpha": "one", "beta": "two", "gamma-3": "three"}
    for r in results.values():
        assert r.type == "succeeded"
        assert r.message.id.startswith("msg_")
        assert r.message.usage.service_tier == "batch"
        assert r.message.stop_reason == "end_turn"


def test_result_equals_the_live_response(client: anthropic.Anthropic) -> None:
    params = req("same", "#say:identical")["params"]
    live = client.messages.create(**params)
    batch = client.messages.batches.create(requests=[{"custom_id": "same", "params": params}])
    wait_ended(client, batch.id)
    (result,) = results_by_id(client, batch.id).values()
    message = result.message
    assert message.content == live.content
    assert message.usage.input_tokens == live.usage.input_tokens
    assert message.usage.output_tokens == live.usage.output_tokens
    assert live.usage.service_tier == "standard"


def test_run_time_failures_become_errored_results(client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(
        requests=[
            req("ok", "#say:fine"),
            req("unknown-model", "#say:x") | {"params": req("", "x")["params"] | {"model": "no-such-model"}},
            req("engine-failure", "#fail-before"),
            req("too-many-tokens", "#say:x", max_tokens=10_000_000),
        ]
    )
    done = wait_ended(client, batch.id)
    assert (done.request_counts.succeeded, done.request_counts.errored) == (1, 3)
    results = results_by_id(client, batch.id)
    assert results["ok"].type == "succeeded"
    errors = {cid: r.error for cid, r in results.items() if r.type == "errored"}
    assert errors["unknown-model"].error.type == "not_found_error"
    assert "no-such-model" in errors["unknown-model"].error.message
    assert errors["engine-failure"].error.type == "api_error"
    assert errors["too-many-tokens"].error.type == "invalid_request_error"
    assert errors["too-many-tokens"].error.message.startswith("max_tokens: 10000000 >")
    for error in errors.values():
        assert error.type == "error"
        assert error.request_id and error.request_id.startswith("req_")


def test_list_is_paginated_newest_first(workspace_client: anthropic.Anthropic) -> None:
    ids = [workspace_client.messages.batches.create(requests=[req("x", "#say:x")]).id for _ in range(3)]
    first = workspace_client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == [ids[2], ids[1]]
    assert first.has_more and first.first_id == ids[2] and first.last_id == ids[1]
    assert [b.id for b in workspace_client.messages.batches.list(limit=2)] == ids[::-1]  # SDK auto-paging
    older = workspace_client.messages.batches.list(limit=5, after_id=ids[2])
    assert [b.id for b in older.data] == [ids[1], ids[0]] and not older.has_more
    newer = workspace_client.messages.batches.list(limit=5, before_id=ids[0])
    assert [b.id for b in newer.data] == [ids[2], ids[1]] and not newer.has_more


def test_cancel_stops_pending_requests(client: anthropic.Anthropic) -> None:
    slow = "#slow:40 #say:" + "z" * 40  # ~1.6 s per request, 4 at a time
    batch = client.messages.batches.create(requests=[req(f"r{i}", slow) for i in range(12)])
    time.sleep(0.3)
    canceled = client.messages.batches.cancel(batch.id)
    assert canceled.processing_status in ("canceling", "ended")
    assert canceled.cancel_initiated_at is not None
    done = wait_ended(client, batch.id)
    counts = done.request_counts
    assert counts.canceled >= 8
    assert counts.succeeded + counts.canceled == 12 and counts.errored == 0
    results = results_by_id(client, batch.id)
    assert len(results) == 12
    assert sum(r.type == "canceled" for r in results.values()) == counts.canceled


def test_delete_only_after_the_batch_ended(client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[req("slow", "#slow:50 #say:" + "q" * 20)])
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.batches.delete(batch.id)
    assert "cancel" in info.value.message
    wait_ended(client, batch.id)
    deleted = client.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_results_before_the_end_are_a_400(batch_server: Live, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[req("slow", "#slow:50 #say:" + "w" * 30)])
    resp = httpx.get(f"{batch_server.base_url}/v1/messages/batches/{batch.id}/results", headers=batch_server.headers())
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["type"] == "invalid_request_error"
    client.messages.batches.cancel(batch.id)


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "requests: List should have at least 1 item after validation, not 0"),
        ([req("a", "x"), req("a", "y")], "requests.1.custom_id: duplicate custom_id `a`"),
        ([req("has space", "x")], "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"),
        ([req("x" * 65, "x")], "requests.0.custom_id: String should match pattern"),
        (
            [req("a", "x"), {"custom_id": "b", "params": {"model": MODEL, "messages": []}}],
            "requests.1.params.max_tokens: Field required",
        ),
        ([req("a", "x", bogus=1)], "requests.0.params.bogus: Extra inputs are not permitted"),
        ([req("a", "x", stream=True)], "requests.0.params.stream: streaming is not supported"),
    ],
)
def test_invalid_batches_are_rejected_whole(batch_server: Live, requests: list[Any], message: str) -> None:
    resp = httpx.post(
        f"{batch_server.base_url}/v1/messages/batches", headers=batch_server.headers(), json={"requests": requests}
    )
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(message), error["message"]


def test_version_rules_apply_to_each_request(batch_server: Live) -> None:
    headers = batch_server.headers() | {"anthropic-version": "2026-10-21"}
    body = {"requests": [req("a", "x", temperature=0.5)]}
    resp = httpx.post(f"{batch_server.base_url}/v1/messages/batches", headers=headers, json=body)
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == "requests.0.params.temperature: Extra inputs are not permitted"
    ok = httpx.post(f"{batch_server.base_url}/v1/messages/batches", headers=batch_server.headers(), json=body)
    assert ok.status_code == 200, ok.text


def test_other_workspaces_get_404(batch_server: Live, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[req("mine", "#say:mine")])
    wait_ended(client, batch.id)
    key = "sk-other-" + secrets.token_hex(6)
    batch_server.add_key(key, "wrkspc_other_" + secrets.token_hex(4))
    other = batch_server.client(api_key=key)
    for call in (
        lambda: other.messages.batches.retrieve(batch.id),
        lambda: other.messages.batches.cancel(batch.id),
        lambda: other.messages.batches.delete(batch.id),
        lambda: list(other.messages.batches.results(batch.id)),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert batch.id not in [b.id for b in other.messages.batches.list(limit=100).data]
    resp = httpx.get(f"{batch_server.base_url}/v1/messages/batches/{batch.id}/results", headers=batch_server.headers())
    assert resp.status_code == 200 and resp.text.count("\n") == 1
    stranger = httpx.get(
        f"{batch_server.base_url}/v1/messages/batches/{batch.id}/results",
        headers=batch_server.headers() | {"x-api-key": key},
    )
    assert stranger.status_code == 404


def test_beta_namespace_and_beta_query(batch_server: Live, client: anthropic.Anthropic) -> None:
    batch = client.beta.messages.batches.create(requests=[req("b", "#say:beta")])
    wait_ended(client, batch.id)
    resp = httpx.get(
        f"{batch_server.base_url}/v1/messages/batches/{batch.id}?beta=true",
        headers=batch_server.headers(**{"anthropic-beta": "message-batches-2024-09-24"}),
    )
    assert resp.status_code == 200 and resp.json()["processing_status"] == "ended"
    assert set(resp.json()) == {
        "id", "type", "processing_status", "request_counts", "ended_at", "created_at",
        "expires_at", "archived_at", "cancel_initiated_at", "results_url",
    }  # fmt: skip
    lines = list(client.beta.messages.batches.results(batch.id))
    assert [line.custom_id for line in lines] == ["b"]


def test_concurrency_is_bounded(batch_server: Live, client: anthropic.Anthropic) -> None:
    engine = batch_server.state.catalog.models[0].engine
    concurrency = batch_server.state.settings.batch_concurrency
    batch = client.messages.batches.create(requests=[req(f"c{i}", "#slow:20 #say:" + "c" * 10) for i in range(10)])
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, engine.active)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        wait_ended(client, batch.id)
    finally:
        stop.set()
        sampler.join()
    assert 2 <= peak <= concurrency
