"""Continuous batching seen through the HTTP server: the real llama.cpp engine behind a
real socket, driven by the official SDK (and raw ``httpx`` streams where a test must hold
a connection open and then drop it).

* 16 concurrent greedy requests each return exactly their solo reply.
* Disconnecting streams frees their sequence slots and queue places at once.
* A full engine answers ``529 overloaded_error`` with ``retry-after``, and the SDK's own
  retry then succeeds once capacity is back.

Capacity is observed through the server's behaviour (529 or not) and through a gate hook
(:mod:`epistula.generation.gate`) that records how each request ended; nothing asserts timings.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from conftest import V2023, LiveServer, add_key, assert_error, model_settings, start_server
from epistula.generation.gate import Admission, Outcome
from epistula.protocol.usage import Usage

pytestmark = pytest.mark.model

MODEL = "claude-haiku-4-5"
GREEDY = {"temperature": 0}

# A request that would hold its slot for a long time: greedy counting, continued from a
# prefill, with a max_tokens that takes the model many seconds to reach.
LONG_MAX_TOKENS = 1500
COUNTING = [
    {"role": "user", "content": "Count from 1 to 2000, separated by commas."},
    {"role": "assistant", "content": "1, 2, 3, 4, 5,"},
]


@dataclass(frozen=True)
class Ending:
    request_id: str
    outcome: Outcome
    output_tokens: int | None
    max_tokens: int


class EndingRecorder:
    """A gate hook that records how every request ended (in the order they ended)."""

    def __init__(self) -> None:
        self.endings: list[Ending] = []
        self._changed = threading.Condition()

    async def admit(self, admission: Admission) -> None:
        return None

    async def release(self, admission: Admission) -> None:
        return None

    async def finish(self, admission: Admission, usage: Usage | None, outcome: Outcome) -> None:
        ending = Ending(admission.request_id, outcome, usage.output_tokens if usage else None, admission.max_tokens)
        with self._changed:
            self.endings.append(ending)
            self._changed.notify_all()

    def wait_for(self, request_ids: set[str], timeout: float = 120.0) -> dict[str, Ending]:
        """Block until every id in ``request_ids`` has ended (the deadline only stops a hang)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                ended = {e.request_id: e for e in self.endings if e.request_id in request_ids}
                if len(ended) == len(request_ids):
                    return ended
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"requests never ended: {request_ids - set(ended)}"
                self._changed.wait(remaining)


def _model_server(tmp: Path, **overrides: Any) -> LiveServer:
    settings = model_settings(tmp, n_ctx=2048, **overrides)
    return start_server(settings, startup_timeout=300.0)


@pytest.fixture(scope="module")
def wide_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """16 sequence slots: all 16 requests of a burst decode in the same batch."""
    live = _model_server(tmp_path_factory.mktemp("wide"), n_seq_max=16)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, EndingRecorder]]:
    """Room for 2 running sequences and 2 queued requests; the 5th concurrent one is refused.

    Short ``first_event_wait`` so a queued stream's headers (and ``message_start``) go out
    quickly; short ``ping_interval`` so a dropped connection that only receives pings is
    noticed quickly.
    """
    live = _model_server(
        tmp_path_factory.mktemp("small"), n_seq_max=2, max_queue=2, first_event_wait=0.1, ping_interval=0.2
    )
    recorder = EndingRecorder()
    live.state.gate.add(recorder)
    yield live, recorder
    live.stop()


def text_of(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


# ---------------------------------------------------------------- 16 at once == each alone


PROMPTS = [
    "Count from 1 to 10.",
    "Name three colors.",
    "What is 2 + 2?",
    "Say hello in French.",
    "List three fruits.",
    "What day comes after Monday?",
    "Spell the word cat.",
    "Name a large animal.",
    "Write a haiku about the sea.",
    "What is the capital of France?",
    "Give me a synonym for happy.",
    "Describe a cloud in one sentence.",
    "Name two planets.",
    "What color is grass?",
    "Tell me a fun fact about cats.",
    "How many legs does a spider have?",
]


def test_sixteen_concurrent_requests_each_match_their_solo_reply(wide_server: LiveServer) -> None:
    """Greedy decoding: a request's reply does not depend on what it is batched with.

    The solo replies come first (one at a time); then all 16 are sent at once as SDK
    streams. Every stream's final message must equal its solo message (text, stop reason,
    usage), and the streams must really have run together: the order in which stream
    events arrived shows many streams between their first and last text delta at once.

    Like with like: every request, solo or batched, runs in a workspace of its own, so none
    can reuse a prefix another left in a slot and all prefill cold (greedy output after a
    prefix reuse may differ from a cold prefill's; docs/performance.md).
    """

    def client(workspace: str) -> anthropic.Anthropic:
        return add_key(wide_server, workspace).with_options(timeout=600.0, default_headers={"anthropic-version": V2023})

    def solo(i: int) -> anthropic.types.Message:
        return client(f"wrkspc_solo_{i}").messages.create(
            model=MODEL, max_tokens=40, messages=[{"role": "user", "content": PROMPTS[i]}], extra_body=GREEDY
        )

    alone = [solo(i) for i in range(len(PROMPTS))]
    batch_clients = [client(f"wrkspc_batched_{i}") for i in range(len(PROMPTS))]
    assert len({text_of(m) for m in alone}) > 8, "the prompts should give different replies"

    clock = itertools.count()  # a global order of stream events across threads
    barrier = threading.Barrier(len(PROMPTS))

    def together(i: int) -> tuple[anthropic.types.Message, int, int]:
        barrier.wait()
        first = last = -1
        with batch_clients[i].messages.stream(
            model=MODEL, max_tokens=40, messages=[{"role": "user", "content": PROMPTS[i]}], extra_body=GREEDY
        ) as stream:
            for event in stream:
                if event.type == "content_block_delta":
                    tick = next(clock)
                    first = tick if first < 0 else first
                    last = tick
            return stream.get_final_message(), first, last

    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        batched = list(pool.map(together, range(len(PROMPTS))))

    for prompt, solo_message, (message, _, _) in zip(PROMPTS, alone, batched, strict=True):
        assert text_of(message) == text_of(solo_message), prompt
        assert message.stop_reason == solo_message.stop_reason, prompt
        assert message.usage.input_tokens == solo_message.usage.input_tokens, prompt
        assert message.usage.output_tokens == solo_message.usage.output_tokens, prompt
    assert len({m.id for m, _, _ in batched}) == len(PROMPTS)
    spans = [(first, last) for _, first, last in batched if first >= 0]
    overlap = max(sum(1 for f, last in spans if f <= t <= last) for t, _ in spans)
    assert overlap >= 8, f"the streams did not run together (at most {overlap} at once)"


# ---------------------------------------------------------------- holding and freeing capacity


class Holder:
    """One raw streaming request kept open (its slot or queue place held) until ``drop()``."""

    def __init__(self, live: LiveServer) -> None:
        self._client = httpx.Client(base_url=live.base_url, timeout=120.0)
        body = {"model": MODEL, "max_tokens": LONG_MAX_TOKENS, "stream": True, "messages": COUNTING, **GREEDY}
        request = self._client.build_request("POST", "/v1/messages", json=body, headers=live.headers())
        self.response = self._client.send(request, stream=True)
        assert self.response.status_code == 200, self.response.read()
        self.request_id = self.response.headers["request-id"]
        self._lines = self.response.iter_lines()

    def read_until(self, event: str) -> None:
        """Consume the stream up to the first ``event`` (``message_start``: admitted;
        ``content_block_delta``: decoding in a slot)."""
        for line in self._lines:
            if line == f"event: {event}":
                return
            assert line != "event: error", self.response.read()
        raise AssertionError(f"stream ended before {event}")

    def drain_in_background(self) -> None:
        """Keep reading (and discarding) the stream in a thread, as a live client would."""

        def drain() -> None:
            with contextlib.suppress(Exception):  # ends when the stream ends or is dropped
                for _ in self._lines:
                    pass

        threading.Thread(target=drain, daemon=True).start()

    def drop(self) -> None:
        """Disconnect without reading the rest (idempotent)."""
        with contextlib.suppress(httpx.HTTPError, RuntimeError, ValueError):
            self.response.close()
        self._client.close()


def occupy(live: LiveServer, running: int, queued: int) -> list[Holder]:
    """Fill ``running`` slots with decoding streams, then ``queued`` queue places."""
    holders: list[Holder] = []
    try:
        for _ in range(running):
            holders.append(Holder(live))
            holders[-1].read_until("content_block_delta")
        for _ in range(queued):
            holders.append(Holder(live))
            holders[-1].read_until("message_start")
    except BaseException:
        for holder in holders:
            holder.drop()
        raise
    return holders


def assert_overloaded(live: LiveServer) -> None:
    resp = httpx.post(
        f"{live.base_url}/v1/messages",
        json={"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]},
        headers=live.headers(),
        timeout=60.0,
    )
    assert_error(resp, 529, "overloaded_error")
    retry_after = resp.headers.get("retry-after", "")
    assert retry_after.isdigit() and int(retry_after) >= 1, resp.headers


def test_disconnected_streams_free_their_slots_and_queue_places(
    small_server: tuple[LiveServer, EndingRecorder],
) -> None:
    """Two decoding streams (A, then B) and two queued ones (C, D) fill the engine: a fifth
    request gets 529.

    * C and D disconnect: their queue places are free at once, so a new stream is
      admitted (where it would get 529 if they were kept).
    * B disconnects while A keeps streaming: a new request with no retries is served and
      finishes while A is still running. If B kept decoding, the new request would wait
      for a slot until A or B finished its ~1,500 tokens; B started after A, so A would
      end first, before the new request was served.
    """
    live, recorder = small_server
    holders = occupy(live, running=2, queued=2)
    a, b, c, d = holders
    try:
        assert_overloaded(live)
        a.drain_in_background()
        b.drain_in_background()

        for holder in (c, d):
            holder.drop()
        ended = recorder.wait_for({c.request_id, d.request_id})
        assert {e.outcome for e in ended.values()} == {"canceled"}, ended
        holders.append(e := Holder(live))  # status 200, not 529: a queue place is free
        e.read_until("message_start")
        e.drop()
        assert recorder.wait_for({e.request_id})[e.request_id].outcome == "canceled"

        b.drop()
        assert recorder.wait_for({b.request_id})[b.request_id].outcome == "canceled"
        client = live.client(version=V2023, max_retries=0, timeout=120.0)
        message = client.messages.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "Say hi."}], extra_body=GREEDY
        )
        assert message.stop_reason in ("max_tokens", "end_turn")
        assert message.usage.output_tokens > 0
        assert a.request_id not in {e.request_id for e in recorder.endings}, "A finished first"
    finally:
        for holder in holders:
            holder.drop()


def test_overload_is_529_and_the_sdk_retry_then_succeeds(small_server: tuple[LiveServer, EndingRecorder]) -> None:
    """The engine's own admission control refuses a fifth request with 529 +
    ``retry-after``; the SDK waits and retries by itself, and the retry is served because
    capacity was freed in between (the test drops the holders when it sees the 529)."""
    live, recorder = small_server
    holders = occupy(live, running=2, queued=2)
    refused: list[Any] = []  # the SDK's own response objects (its HTTP library, httpx2)

    def on_response(response: Any) -> None:
        if response.status_code != 529:
            return
        response.read()
        refused.append(response)
        if len(refused) == 1:  # free the engine before the SDK's retry
            for holder in holders:
                holder.drop()
            recorder.wait_for({h.request_id for h in holders})

    http_client = anthropic.DefaultHttpxClient(event_hooks={"response": [on_response]}, timeout=120.0)
    try:
        client = live.client(version=V2023, max_retries=3, http_client=http_client)
        message = client.messages.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "Say hi."}], extra_body=GREEDY
        )
    finally:
        http_client.close()
        for holder in holders:
            holder.drop()

    assert refused, "the first attempt should have been refused"
    first = refused[0]
    assert_error(first, 529, "overloaded_error")
    assert first.headers.get("retry-after", "").isdigit() and int(first.headers["retry-after"]) >= 1
    assert message.type == "message" and message.usage.output_tokens > 0
    assert message.stop_reason in ("max_tokens", "end_turn")
