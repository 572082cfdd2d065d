"""``GET /metrics``: valid Prometheus text (checked with prometheus_client's own parser)
whose counts move with the requests the server really handled."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import API_KEY, LiveServer, body, fake_settings, running, server_fixture
from epistula.engines.fake import FakeEngine
from epistula.http.app import create_app
from live import serve_in_thread

server = server_fixture("server", "metrics")


def scrape(live: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, sorted labels); the parser rejects malformed exposition text."""
    resp = httpx.get(live.base_url + "/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_exposition_parses_and_has_every_family(server: LiveServer) -> None:
    server.client().messages.create(**body())
    names = {name for name, _ in scrape(server)}
    for expected in (
        "epistula_requests_total",
        "epistula_request_duration_seconds_bucket",
        "epistula_messages_total",
        "epistula_input_tokens_total",
        "epistula_output_tokens_total",
        "epistula_cache_read_input_tokens_total",
        "epistula_cache_creation_input_tokens_total",
        "epistula_time_to_first_token_seconds_bucket",
        "epistula_time_per_output_token_seconds_bucket",
        "epistula_queue_depth",
        "epistula_active_sequences",
        "epistula_prompt_tokens_reused_total",
        "epistula_prompt_tokens_prefilled_total",
        "epistula_prompt_cache_hit_ratio",
    ):
        assert expected in names, expected


def test_counts_move_with_requests(server: LiveServer) -> None:
    model = server.model_id
    before = scrape(server)
    message = server.client().messages.create(**body("#say:twelve chars"))
    stream_text = ""
    with server.client().messages.stream(**body("#say:streamed")) as stream:
        for text in stream.text_stream:
            stream_text += text
    assert stream_text == "streamed"
    bad = httpx.post(server.base_url + "/v1/messages", json={"model": "x"}, headers=server.headers())
    assert bad.status_code == 400
    after = scrape(server)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"method": "POST", "route": "/v1/messages", "status": "200", "model": model}
    assert moved("epistula_requests_total", **ok) == 2
    assert moved("epistula_requests_total", method="POST", route="/v1/messages", status="400", model="") == 1
    assert moved("epistula_messages_total", model=model, outcome="succeeded") == 2
    assert moved("epistula_output_tokens_total", model=model) == message.usage.output_tokens + len("streamed")
    assert moved("epistula_input_tokens_total", model=model) >= message.usage.input_tokens
    assert moved("epistula_time_to_first_token_seconds_count", model=model) == 2
    assert moved("epistula_time_per_output_token_seconds_count", model=model) == 2
    assert moved("epistula_request_duration_seconds_count", route="/v1/messages") == 3
    prefilled = moved("epistula_prompt_tokens_prefilled_total", model=model)
    reused = moved("epistula_prompt_tokens_reused_total", model=model)
    assert prefilled + reused == moved("epistula_input_tokens_total", model=model) + moved(
        "epistula_cache_read_input_tokens_total", model=model
    ) + moved("epistula_cache_creation_input_tokens_total", model=model)
    assert_hit_ratio(after, model)


def assert_hit_ratio(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], model: str) -> None:
    """The gauge is reused / (reused + prefilled) of the counters scraped with it."""
    reused = value(samples, "epistula_prompt_tokens_reused_total", model=model)
    prefilled = value(samples, "epistula_prompt_tokens_prefilled_total", model=model)
    assert reused + prefilled > 0
    assert value(samples, "epistula_prompt_cache_hit_ratio", model=model) == pytest.approx(
        reused / (reused + prefilled)
    )


def test_unknown_paths_share_one_label(server: LiveServer) -> None:
    for path in ("/nope/1", "/nope/2"):
        assert httpx.get(server.base_url + path).status_code == 404
    samples = scrape(server)
    routes = {dict(labels).get("route") for name, labels in samples if name == "epistula_requests_total"}
    assert "unmatched" in routes and "/nope/1" not in routes


def test_active_sequences_while_generating(server: LiveServer) -> None:
    model = server.model_id
    done = threading.Event()

    def slow() -> None:
        try:
            server.client().messages.create(**body("#slow:50 #say:" + "z" * 30))
        finally:
            done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        seen = 0.0
        deadline = time.monotonic() + 20
        while not done.is_set() and time.monotonic() < deadline:
            seen = max(seen, value(scrape(server), "epistula_active_sequences", model=model))
            if seen:
                break
            time.sleep(0.05)
        assert seen >= 1
    finally:
        thread.join(30)
    deadline = time.monotonic() + 10
    while value(scrape(server), "epistula_active_sequences", model=model) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert value(scrape(server), "epistula_active_sequences", model=model) == 0


def test_queue_depth_counts_requests_waiting_for_a_slot(tmp_path: Path) -> None:
    one_slot = create_app(fake_settings(tmp_path), engine_factory=lambda s, m: FakeEngine(name=m.id, max_active=1))
    server, thread, base_url = serve_in_thread(one_slot)
    live = LiveServer(app=one_slot, server=server, thread=thread, base_url=base_url, api_key=API_KEY)
    try:
        senders = [
            threading.Thread(target=lambda: live.client().messages.create(**body("#slow:50 #say:" + "q" * 10)))
            for _ in range(3)
        ]
        for t in senders:
            t.start()
        deepest = 0.0
        deadline = time.monotonic() + 20
        while any(t.is_alive() for t in senders) and time.monotonic() < deadline:
            deepest = max(deepest, value(scrape(live), "epistula_queue_depth", model=live.model_id))
            if deepest >= 2:
                break
            time.sleep(0.05)
        for t in senders:
            t.join(30)
        assert deepest >= 1
        assert value(scrape(live), "epistula_queue_depth", model=live.model_id) == 0
    finally:
        live.stop()


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    with running(fake_settings(tmp_path, metrics_enabled=False)) as live:
        assert httpx.get(live.base_url + "/metrics").status_code == 404


@pytest.mark.model
def test_engine_series_from_the_real_model(model_server: LiveServer) -> None:
    model = model_server.model_id
    before = scrape(model_server)
    message = model_server.client().messages.create(**body("Say hello.", max_tokens=8))
    middle = scrape(model_server)
    # The same prompt again: its prefix is reused from the slot the first one left.
    model_server.client().messages.create(**body("Say hello.", max_tokens=8))
    after = scrape(model_server)
    prefilled = value(middle, "epistula_prompt_tokens_prefilled_total", model=model) - value(
        before, "epistula_prompt_tokens_prefilled_total", model=model
    )
    reused = value(middle, "epistula_prompt_tokens_reused_total", model=model) - value(
        before, "epistula_prompt_tokens_reused_total", model=model
    )
    assert prefilled + reused == message.usage.input_tokens + message.usage.cache_read_input_tokens + (
        message.usage.cache_creation_input_tokens
    )
    assert value(after, "epistula_active_sequences", model=model) == 0
    assert value(after, "epistula_queue_depth", model=model) == 0
    assert (
        value(middle, "epistula_output_tokens_total", model=model)
        - value(before, "epistula_output_tokens_total", model=model)
        == message.usage.output_tokens
    )
    assert value(after, "epistula_prompt_tokens_reused_total", model=model) > value(
        middle, "epistula_prompt_tokens_reused_total", model=model
    ), "the repeated prompt reused nothing"
    assert_hit_ratio(middle, model)
    assert_hit_ratio(after, model)
