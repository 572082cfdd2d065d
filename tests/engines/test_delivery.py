"""The worker's mailboxes: while steps are quick and only decode, tokens wait for the next
steps (up to ``HOLD_SECONDS``) so the event loop wakes once for several; a stream's first
token, its end, and anything before a step that reads a prompt go out at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from epistula.engines.base import Finished, SamplingParams, Token
from epistula.engines.llamacpp import delivery
from epistula.engines.llamacpp.delivery import HOLD_SECONDS, Mailboxes
from epistula.engines.llamacpp.native import SamplerChain
from epistula.engines.llamacpp.slots import Job

STEP = 0.008  # one stream on the 2-core machine


class _Clock:
    now = 100.0

    @classmethod
    def monotonic(cls) -> float:
        return cls.now


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.AbstractEventLoop]:
    monkeypatch.setattr(delivery, "time", _Clock)
    running = asyncio.new_event_loop()
    yield running
    running.close()


def _job(loop: asyncio.AbstractEventLoop) -> Job:
    return Job(
        prompt=(1, 2),
        sampling=SamplingParams(max_tokens=64, temperature=0),
        namespace="",
        priority=0,
        chain=SamplerChain(None, greedy=True),
        loop=loop,
        queue=asyncio.Queue(),
    )


def _step(
    boxes: Mailboxes,
    loop: asyncio.AbstractEventLoop,
    job: Job,
    quick: bool = True,
    end: bool = False,
    step: float = STEP,
) -> int:
    """One worker step of ``step`` seconds producing one token (or the end); returns how many
    outcomes the job's consumer has received once the loop has run."""
    _Clock.now += step
    if end:
        outcome: Token | Finished = Finished(reason="eos", prompt_tokens=2, output_tokens=job.output_tokens)
    else:
        job.output_tokens += 1
        outcome = Token(id=job.output_tokens, piece=b"x")
    boxes.post([(job, outcome)], quick)
    loop.run_until_complete(asyncio.sleep(0))
    return job.queue.qsize()


def test_quick_steps_hold_tokens_up_to_the_hold_time(loop: asyncio.AbstractEventLoop) -> None:
    boxes, job = Mailboxes(), _job(loop)
    assert _step(boxes, loop, job) == 1  # the first token: at once (time to first token)
    received = [_step(boxes, loop, job) for _ in range(6)]
    assert received[0] == 1  # the second token waits for the next steps...
    assert max(received) == 7 and received[-1] >= 5  # ...but never longer than the hold time
    held_steps = int(HOLD_SECONDS / STEP)
    assert all(b - a <= held_steps + 1 for a, b in zip([1, *received], received, strict=False))
    assert _step(boxes, loop, job, end=True) == 8  # the end flushes everything


def test_nothing_waits_before_a_step_that_reads_a_prompt(loop: asyncio.AbstractEventLoop) -> None:
    boxes, job = Mailboxes(), _job(loop)
    assert [_step(boxes, loop, job, quick=False) for _ in range(4)] == [1, 2, 3, 4]


def test_slow_steps_deliver_every_token(loop: asyncio.AbstractEventLoop) -> None:
    boxes, job = Mailboxes(), _job(loop)
    slow = 5 * HOLD_SECONDS  # 16 streams: ~100 ms a step
    assert [_step(boxes, loop, job, step=slow) for _ in range(4)] == [1, 2, 3, 4]


def test_a_step_with_nothing_new_still_delivers_what_is_held(loop: asyncio.AbstractEventLoop) -> None:
    boxes, job = Mailboxes(), _job(loop)
    _step(boxes, loop, job)
    assert _step(boxes, loop, job) == 1  # held
    boxes.post([], False)  # e.g. a step that waited for the vision encoder
    loop.run_until_complete(asyncio.sleep(0))
    assert job.queue.qsize() == 2
