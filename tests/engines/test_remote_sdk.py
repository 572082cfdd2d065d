"""An epistula server with the remote engine, through the official SDK, against the upstream double.

The server runs on a real socket (in this process: a subprocess start costs ~15 s on a
loaded CI machine; ``test_remote_cli.py`` checks the command line); its upstream replays a
real llama-server stream, so the SDK must see exactly the text of the recorded tokens, the
usage epistula counted with its own tokenizer, an ``event: error`` (not a hang) when the
upstream breaks off mid-stream, and the routing counters in ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest

from conftest import API_KEY, LiveServer, start_server
from epistula.config import Settings
from epistula.engines.remote.engine import load_vocab
from real_parts import smollm2_gguf

from .upstream_double import UpstreamDouble, doubles, recorded_tokens

MODEL = "claude-sonnet-4-5"
ASK = [{"role": "user", "content": "Write a long story about a lighthouse."}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamDouble]:
    with doubles({"default": "limit"}) as [double]:
        yield double


@pytest.fixture(scope="module")
def server(upstream: UpstreamDouble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        engine="remote", upstream=[upstream.spec], api_key=API_KEY, data_dir=tmp_path_factory.mktemp("remote")
    )
    live = start_server(settings)
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def healthy_upstream(upstream: UpstreamDouble) -> None:
    upstream.reset(default="limit")


def expected_text() -> str:
    vocab = load_vocab(str(smollm2_gguf()))
    return vocab.detokenize([t for t in recorded_tokens("limit") if t not in vocab.eog_ids])


def test_message_text_is_the_upstream_tokens_and_usage_is_counted_here(server: LiveServer) -> None:
    client = server.client()
    message = client.messages.create(model=MODEL, max_tokens=24, messages=ASK)  # type: ignore[arg-type]
    assert message.content[0].type == "text"
    assert message.content[0].text == expected_text()
    assert (message.stop_reason, message.usage.output_tokens) == ("max_tokens", 24)
    counted = client.messages.count_tokens(model=MODEL, messages=ASK)  # type: ignore[arg-type]
    assert message.usage.input_tokens == counted.input_tokens


def test_streamed_text_matches(server: LiveServer, upstream: UpstreamDouble) -> None:
    with server.client().messages.stream(model=MODEL, max_tokens=24, messages=ASK) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
    assert text == expected_text()
    body = upstream.received[-1]
    assert all(isinstance(t, int) for t in body["prompt"]) and body["n_predict"] == 24


def test_an_upstream_breaking_off_mid_stream_is_an_error_event(server: LiveServer, upstream: UpstreamDouble) -> None:
    upstream.reset(default="limit", fault="drop", after=6)
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        server.client().messages.stream(model=MODEL, max_tokens=24, messages=ASK) as stream,  # type: ignore[arg-type]
    ):
        for _ in stream:
            pass
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_an_upstream_down_before_the_first_token_is_a_plain_error(server: LiveServer, upstream: UpstreamDouble) -> None:
    upstream.reset(fault="down")
    with pytest.raises(anthropic.InternalServerError) as info:
        server.client().messages.create(model=MODEL, max_tokens=24, messages=ASK)  # type: ignore[arg-type]
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_routing_counters_are_in_metrics(server: LiveServer) -> None:
    server.client().messages.create(model=MODEL, max_tokens=24, messages=ASK)  # type: ignore[arg-type]
    metrics = httpx.get(f"{server.base_url}/metrics").text
    assert 'epistula_upstream_routed_requests_total{model="smollm2-135m-instruct"}' in metrics
    assert "epistula_upstream_route_hit_ratio{" in metrics
