"""How many CPU threads ggml uses for each ``llama_decode``, chosen from measured speed.

ggml's CPU threads meet at spin barriers hundreds of times per step. On an idle machine a
thread per core is fastest (2 cores, SmolLM2-135M: prefill ~408 tokens/s against ~200 with
one thread, 16-stream decode ~1.7x). But when anything else wants a core (the event loop
serving HTTP, a client on the same box, other jobs) a thread that is descheduled stalls
every other one at the next barrier: measured on the loaded 2-core machine, two threads
fell to a few tokens/s where one held ~150. No fixed count is right for both, so the
adaptive policy measures: for every batch shape (decode steps bucketed by their token
count) it keeps a moving average of the step time with each candidate count (all cores,
and all but one), uses the faster one, and now and then tries the other again, less often
the worse it was. A new batch shape runs with the count that won last (at first the
fewest threads, which cannot collapse). The first shape tries the other count on its
second step, so an idle machine gets every core within the first request rather than
after sixteen steps (at one stream that start cost ~8% of the tokens, and the cold prefill
ran on one core); later shapes try the loser only as often as the last measured shape
does (on a busy machine a collapsed two-thread prefill cost seconds).
Averages are of seconds per token: one bucket holds prompt chunks of 32 to 512 tokens, and
comparing a count timed on 512-token chunks with one timed on 40-token prompts picked the
wrong count for every later prompt (a long request made the next short ones prefill on
one core). ``llama_set_n_threads`` costs nothing, so the count can change per step, but
the first step after a change pays for waking (or parking) ggml's extra thread: timed alone,
a single two-thread try after many one-thread steps always looked slow, so one stream on an
idle 2-core machine stayed on one core (72 tok/s against 100 with two threads fixed). A try
is therefore a run of ``EXPLORE_RUN`` steps, and the first step after a change of count is
not recorded. A try's first timed step replaces the tried count's average instead of joining
it: that average is as old as the last try, and blended in at ``ALPHA`` a busy spell long
over kept two threads looking slow for try after try (after a 3x collapse, three tries,
~700 steps at one stream, before two threads ran again). And a verdict is only settled once
the loser has been tried again and lost: a single disturbed step (a client process starting,
another program's threads still spinning) flipped a fresh server to one thread, and the
first 4-stream request then ran 67 of its 128 steps on one core (80 tok/s against ~130);
an unsettled loser is retried after ``RECHECK_AFTER`` steps, and new shapes try it at once.
Every loser is also retried by time (``STALE_AFTER_TRIES``): two servers warming up together
each saw two threads collapse, and one of them then ran its first eight 1-stream and
4-stream requests on one core, until a thousand steps had passed. That time is the time
spent decoding steps of the shape, not the wall clock: counted in wall time, every prompt
after a pause of a few seconds was due for a try, a try lasts three steps, and a one-stream
prompt is one step per request, so every prefill of a request that came after a pause ran
on one core (TTFT 85-100 ms against 50-65, measured in the side-by-side benchmark).
Two more ways a verdict outlived the load it was made under: a shape's verdict that a newer
one of another shape contradicts is checked again at once (:meth:`ThreadPolicy._conflicts`):
after a 64-stream burst, whose last steps of 8 to 15 sequences ran while the client was
busy, the next one-stream prompts (the same shape) prefilled on one core for hundreds of
requests. And a long step is timed even when it changed the count (``SWITCH_NEGLIGIBLE``):
a one-stream prompt always follows a single-token step, so a count that differs from
theirs was never measured on prompts. Such a long step is also a whole try by itself: a
three-step try of one thread on a one-stream prompt shape made three requests in a row
prefill on one core. Last, the worker's idle spells are judged from ``/proc/stat``
(:mod:`.cpuload`): when the rest of the machine stayed quiet while nothing ran, every core
is free, and each shape whose verdict is fewer threads checks it again at its next step
(after a 64-stream burst the next one-stream prompts prefilled on one core, 67-92 ms
against ~40, until their shape's tries came round).

Tries are lopsided: fewer threads do not collapse when something else wants a core, so
the average they left stays true, and a winner with more threads that slows down shows it
in its own steps. So a losing count with fewer threads is tried ``FEWER_THREADS_PATIENCE``
times less often, and a verdict for more threads is settled at once (no early re-check of
the fewer). At one stream tries of one thread took 4.7 of every 128 steps, ~3% of the
tokens. A try is due by the steps since the last one (a multiple of an interval that moves
with the averages came round more often than the interval said).

The pair of counts is all cores and all but one: measured on an idle 16-core machine all
cores win or tie at every shape, and with one core busy elsewhere 16 threads collapse
(10-14 tok/s at one stream) while 15 hold (~285). With two busy cores 15 collapse too (42-90
tok/s where 14 run ~300), so on machines of 3 cores and more the fewer count follows the
load: once a second the worker reads how many of its cores everything but its own and
ggml's threads keeps busy (:class:`.cpuload.LoadMeter`), and two readings in a row that ask
for another fewer count (all but the busy ones, at least all but one, at most half given
up) replace it (:meth:`ThreadPolicy.follow`).

At start the worker warms up (:meth:`ThreadPolicy.warm_up`, as llama-server does before
it listens): a few single-token decodes with each count. The first decodes of a fresh
context pay one-time costs (weights paged in, ggml's worker thread started, compute
buffers touched; 350-450 ms for the first 18-50 token prefill against ~200 warm), which
made the first try of two threads look slow, so a fresh server's first request stayed on
one core and prefilled on one core. The warm-up's later steps are timed and seed the
single-token averages, so the first request starts on the count that is faster now.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

from epistula.engines.llamacpp.cpuload import WORKER_NAME, LoadMeter, name_this_thread
from epistula.engines.llamacpp.native import NativeBatch, NativeContext

ALPHA = 0.25
"""Weight of a new step in the moving averages (recent steps count most: load changes)."""
EXPLORE_EVERY = 64
"""Steps between tries of the other count when both are about as fast. Tries are only for
noticing that the losing count got faster (the machine went quiet): a winner that slows
down is seen at once, since every step it runs is timed. Each try costs a thread wake-up or
park and steps on the slower count: at 16, one stream on an idle 2-core machine lost ~10%."""
MAX_EXPLORE_EVERY = 1024
OUTLIER = 1.5
"""A step counts as at most this many times the average it joins: one disturbed step (a
client process starting, the first decodes after a fresh server's first prompt took 24 ms
against ~9) moved the average by half and flipped the verdict, and the next prompt, a new
shape, followed it onto one core (TTFT ~150 ms against ~60). A collapse that lasts still
flips it, after three or four steps rather than one."""
STALE_AFTER_TRIES = 20
"""A losing count is also tried again once this many tries of it could have run since its
last one: by time, not steps, so a collapse seen while another process started is
forgotten within seconds, on a shape with few steps too, while a count that really is
slow costs at most 5% of the time in tries."""
FEWER_THREADS_PATIENCE = 4
"""How many times rarer the tries of a settled losing count are when it has fewer threads
than the winner. Fewer threads do not collapse when something else wants a core, so the
average they left stays true for long, and if the winner slows down its own steps show it
at once (every step it runs is timed). At one stream on 2 cores, tries of one thread took
4.7 of every 128 steps, ~3% of the tokens."""
RECHECK_AFTER = 16
"""Steps until the losing count is tried again while the verdict is unsettled (see
``ThreadPolicy._settled``)."""
EXPLORE_RUN = 3
"""Steps a try of the other count lasts (the first, after the switch, is timed only when
it is long: ``SWITCH_NEGLIGIBLE``; a shape whose steps are that long tries one step)."""
SWITCH_NEGLIGIBLE = 0.025
"""Seconds from which a step is timed even though it changed the thread count: waking or
parking ggml's extra thread is then a small part of it. A one-stream prompt is one step
between single-token steps, so its count differs from theirs whenever the shapes
disagree: untimed, the count it ran was never measured there."""
MAX_CONFLICT_BACKOFF = 256
"""Most newer conflicting verdicts of other shapes a shape ignores between two re-checks
(see :meth:`ThreadPolicy._conflicts`)."""
WARM_UP_STEPS = 4
"""Single-token decodes per count at start (the first of each is not timed)."""
WARM_UP_COLLAPSE = 3.0
"""The warm-up of more threads stops once a timed step is this many times slower than the
fewest threads' average (a busy machine: the verdict is clear, and each step costs)."""
LARGEST_BUCKET = 6
"""Steps are bucketed by the bit length of their token count; 32 tokens and more share one."""
LOAD_EVERY = 1.0
"""Seconds between two readings of how many cores other threads keep busy (:class:`.LoadMeter`)."""
LOAD_MARGIN = 0.3
"""Busy cores of others above a whole number that still count as that number (the event
loop's bursts, a client's reads): 1.2 busy cores leave all but one core to ggml."""


def _stale(elapsed: float, step_seconds: float) -> bool:
    """Whether a count last run ``elapsed`` seconds of decoding ago, whose steps take
    ``step_seconds``, is due for another try: tries then take at most ``1 / STALE_AFTER_TRIES``
    of the decoding time."""
    return elapsed >= STALE_AFTER_TRIES * EXPLORE_RUN * step_seconds


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


@dataclass
class _Bucket:
    average: dict[int, float] = field(default_factory=dict)
    """Seconds per token by thread count."""
    steps: int = 0
    trying: int = 0
    """Steps left in the current try of another count."""
    tried: int = 0
    stale: int = 0
    """The count whose next timed step replaces its average rather than joining it: the
    one being tried, last measured a while ago (0: none)."""
    best: int = 0
    """The faster count at the last verdict (0: none yet)."""
    settled: bool = False
    """The losing count was tried since ``best`` last changed, and lost again. Until then
    the verdict may rest on one disturbed step, and the loser is retried after
    ``RECHECK_AFTER`` steps."""
    busy: float = 0.0
    """Seconds spent decoding steps of this shape."""
    tried_step: int = 0
    """:attr:`steps` when the losing count last ran here."""
    tried_at: float = 0.0
    """:attr:`busy` when the losing count last ran here."""
    tried_total: float = 0.0
    """The policy's total decoding time then (:attr:`ThreadPolicy._busy`)."""
    verdict_at: float = 0.0
    """The policy's total decoding time when this verdict was made or last checked."""
    conflict_seen: float = 0.0
    """The newest other shape's verdict that disagreed with this one, already counted."""
    skips: int = 0
    """Disagreeing verdicts of other shapes still to ignore before the next re-check."""
    backoff: int = 0
    """How many the last re-check that confirmed this verdict set ``skips`` to."""
    rechecking: bool = False
    """The current try is a re-check started by :meth:`ThreadPolicy._conflicts`."""


@dataclass
class ThreadPolicy:
    """Thread counts to try (one: fixed) and what was measured with each."""

    candidates: tuple[int, ...]
    _buckets: dict[int, _Bucket] = field(default_factory=dict, init=False)
    _preferred: int = field(default=0, init=False)
    _interval: int = field(default=0, init=False)
    """Steps between tries of the losing count, from the last shape measured with both
    (0: no shape has been yet)."""
    _settled: bool = field(default=False, init=False)
    """Whether the last verdict was settled (:attr:`_Bucket.settled`); if not, new shapes
    try the other count on their second step."""
    _loser: tuple[float, float] = field(default=(0.0, 0.0), init=False)
    """The last verdict's losing count: seconds per token, and :attr:`_busy` when it last ran."""
    _latest: tuple[int, float] = field(default=(0, 0.0), init=False)
    """The newest verdict made or confirmed by a try on any shape: the faster count, and
    :attr:`_busy` then."""
    _busy: float = field(default=0.0, init=False)
    """Seconds spent decoding, all shapes (idle time does not make a loser due for a try)."""

    _meter: LoadMeter | None = field(default=None, init=False)
    """Reads how many cores others keep busy, where there is a fewer count below all but one."""
    _load_at: float = field(default=0.0, init=False)
    _proposed: int = field(default=0, init=False)
    """The fewer count the last load reading asked for (0: none since the last change)."""

    _used: frozenset[int] = field(default=frozenset(), init=False)
    """Counts that ran before (a count's first step also starts its threads: never timed)."""
    _last: int = field(default=0, init=False)
    """The thread count of the previous step (a short successor with another count is not timed)."""

    def __post_init__(self) -> None:
        self._preferred = self.candidates[-1]

    @classmethod
    def fixed(cls, n_threads: int) -> ThreadPolicy:
        return cls((max(1, n_threads),))

    @classmethod
    def adaptive(cls, n_cores: int | None = None) -> ThreadPolicy:
        n = n_cores or cores()
        return cls(tuple(sorted({n, max(1, n - 1)}, reverse=True)))

    @property
    def max_threads(self) -> int:
        return self.candidates[0]

    def quiet(self) -> None:
        """The machine was quiet while the worker idled (:mod:`.cpuload`): every core is
        free now. That contradicts each verdict for fewer threads made before, under load
        (a burst's last steps while its client was busy), so each such shape checks its
        own again at its next step, as for a newer disagreeing verdict (:meth:`_conflicts`)."""
        if len(self.candidates) > 1:
            self._latest = (self.max_threads, self._busy)

    def decode(self, ctx: NativeContext, batch: NativeBatch) -> int:
        """``llama_decode`` with the count chosen for this batch, timed for the policy."""
        if self._meter is not None:
            self._follow_load(self._meter)
        return self._decode(ctx, batch, self.choose(batch.n_tokens))

    def fewer_for(self, others: float) -> int:
        """The fewer-threads candidate when others keep ``others`` cores busy: all but
        those (at least all but one, at most half the cores given up)."""
        n = self.max_threads
        return max(n // 2, n - max(1, math.ceil(others - LOAD_MARGIN)), 1)

    def follow(self, others: float) -> None:
        """A load reading: when it and the one before both ask for another fewer count on
        the same side of the current one, take the milder of the two.

        All cores and all but one is the right pair on an idle machine and with one core
        busy elsewhere (the event loop, one other program). With two busy, both collapse:
        measured on 16 cores, 15 threads fell to 42-90 tok/s where 14 ran ~300. The new
        count is then tried on every shape soon, as a new shape tries an unmeasured count.
        Readings under steady load scatter (1.6 to 2.9 busy cores with two spinning
        programs and a busy event loop), so two readings must agree on the direction only."""
        current, asked = self.candidates[-1], self.fewer_for(others)
        before, self._proposed = self._proposed, asked
        if not before or (before - current) * (asked - current) <= 0:
            return
        self._proposed = 0
        fewer = max(before, asked) if asked < current else min(before, asked)
        self.candidates = (self.max_threads, fewer)
        self._settled = False

    def _follow_load(self, meter: LoadMeter) -> None:
        now = time.perf_counter()
        if now - self._load_at < LOAD_EVERY:
            return
        self._load_at = now
        others = meter.sample()
        if others is not None:
            self.follow(others)

    def _decode(self, ctx: NativeContext, batch: NativeBatch, n_threads: int) -> int:
        ctx.set_threads(n_threads)
        started = time.perf_counter()
        status = ctx.decode(batch)
        if status == 0:
            self.record(batch.n_tokens, n_threads, time.perf_counter() - started)
        return status

    def warm_up(self, ctx: NativeContext, batch: NativeBatch, token: int) -> None:
        """Decode ``token`` a few times on sequence 0 with each count, fewest first, then
        remove it: pays a fresh context's one-time costs before the first request and
        seeds the single-token averages (the preferred count follows them). Where the
        fewer count could go below all but one (3 cores and more), it also names the worker's
        thread, whose ggml threads inherit the name, and starts reading the load of the
        others (:meth:`follow`)."""
        if len(self.candidates) > 1 and self.candidates[-1] > 1 and name_this_thread():
            self._meter = LoadMeter(WORKER_NAME)
        pos = 0
        fewest = self.candidates[-1]
        seen = self._bucket(1).average  # single-token steps
        collapsed = False
        for n_threads in reversed(self.candidates):
            for _ in range(WARM_UP_STEPS):
                batch.clear()
                batch.add(token, pos, 0, True)
                pos += 1
                if self._decode(ctx, batch, n_threads) != 0:
                    break
                collapsed = n_threads != fewest and seen.get(n_threads, 0.0) > WARM_UP_COLLAPSE * seen.get(fewest, 1e9)
                if collapsed:
                    break
        batch.clear()
        ctx.seq_rm(0)
        if len(seen) == len(self.candidates) > 1:
            bucket = self._bucket(1)
            self._preferred, self._interval = self._verdict(bucket)
            bucket.best = self._preferred
            self._loser_ran(bucket)
            other = next(n for n in self.candidates if n != bucket.best)
            self._loser = (bucket.average[other], self._busy)
            # A collapse is clear, and so is a loser with fewer threads; a close call for fewer is checked again.
            self._settled = bucket.settled = collapsed or other < bucket.best
            self._latest = (self._preferred, self._busy)

    def _bucket(self, n_tokens: int) -> _Bucket:
        """The measurements of steps of ``n_tokens`` tokens' shape."""
        return self._buckets.setdefault(min(n_tokens.bit_length(), LARGEST_BUCKET), _Bucket())

    def _verdict(self, bucket: _Bucket) -> tuple[int, int]:
        """The faster count of a shape measured with every count, and how many steps
        pass between tries of the other (more, the slower it was)."""
        best = min(self.candidates, key=lambda n: bucket.average[n])
        other = next(n for n in self.candidates if n != best)
        ratio = bucket.average[other] / max(bucket.average[best], 1e-9)
        return best, min(MAX_EXPLORE_EVERY, int(EXPLORE_EVERY * ratio * ratio))

    def choose(self, n_tokens: int) -> int:
        """The thread count for a step of ``n_tokens`` tokens.

        A batch shape not measured with every count uses the count that won last (at
        first the fewest threads: safe on a busy machine). While the last verdict is
        unsettled (no shape measured with both yet, or the loser not re-checked since the
        winner changed) a new shape tries the other count on its second step; once
        settled, new shapes try the losing count as rarely as the last measured shape
        does (a count that collapsed on a busy machine is not tried again on every new
        shape). Once a shape is measured with both, the faster one is used and the
        other is retried after ``RECHECK_AFTER`` steps until it has lost a try, then
        less often the slower it was.
        """
        if len(self.candidates) == 1:
            return self.candidates[0]
        bucket = self._bucket(n_tokens)
        bucket.steps += 1
        if bucket.trying:
            bucket.trying -= 1
            return bucket.tried
        untried = [n for n in self.candidates if n not in bucket.average]
        if untried:
            cost, ran_at = self._loser
            if not self._settled or _stale(self._busy - ran_at, cost * n_tokens):
                explore = bucket.steps > 1
            else:
                explore = bucket.steps - bucket.tried_step >= self._interval
            return self._try(bucket, untried[0], n_tokens) if explore else self._preferred
        best, interval = self._verdict(bucket)
        other = next(n for n in self.candidates if n != best)
        changed, ended = best != bucket.best, bool(bucket.tried)
        if changed:  # the new loser was the winner a step ago: unless it has fewer threads, check it again soon
            bucket.best, bucket.settled = best, other < best
            self._loser_ran(bucket)
        if changed or ended:
            bucket.verdict_at, self._latest = self._busy, (best, self._busy)
        if ended:  # a try just ended: settled if the tried count lost again (or has fewer threads now)
            lost = bucket.tried != best
            bucket.settled, bucket.tried = lost or other < best, 0
            if bucket.rechecking:
                bucket.rechecking = False
                bucket.backoff = min(MAX_CONFLICT_BACKOFF, 2 * bucket.backoff or 1) if lost else 0
                bucket.skips = bucket.backoff
        self._preferred, self._interval, self._settled = best, interval, bucket.settled
        self._loser = (bucket.average[other], bucket.tried_total)
        patience = FEWER_THREADS_PATIENCE if other < best else 1
        if not bucket.settled:
            interval, patience = min(interval, RECHECK_AFTER), 1
        if self._conflicts(bucket):
            bucket.rechecking = True
            return self._try(bucket, other, n_tokens)
        cost = bucket.average[other] * n_tokens * patience
        due = bucket.steps - bucket.tried_step >= interval * patience or _stale(bucket.busy - bucket.tried_at, cost)
        return self._try(bucket, other, n_tokens) if due else best

    @staticmethod
    def _run(bucket: _Bucket, n_tokens: int) -> int:
        """Steps a try lasts: ``EXPLORE_RUN``, or one where a step is long enough to be
        timed right after the switch (``SWITCH_NEGLIGIBLE``). A one-stream prompt is one
        step per request, so a three-step try of a slower count made three requests in a
        row prefill on it (TTFT ~75 ms against ~45, measured after a 64-stream burst)."""
        fastest = min(bucket.average.values(), default=0.0)
        return 1 if fastest * n_tokens >= SWITCH_NEGLIGIBLE else EXPLORE_RUN

    def _conflicts(self, bucket: _Bucket) -> bool:
        """Whether another shape's verdict, newer than this one's, disagrees with it and
        this shape is due to check its own again (with a try of the other count).

        A verdict made under load (a burst's last steps, with a busy client) lasts until
        its shape is tried again, and a shape that runs once per request (a short prompt)
        is tried again only after hundreds of requests: every one of them ran on the
        count that was right under load. Single-token steps are timed all the time, so
        their newer verdict is the sign that the machine changed. When the shapes really
        disagree, each re-check that confirms this verdict doubles how many newer
        disagreeing verdicts are ignored before the next one."""
        best, at = self._latest
        if best == bucket.best or at <= max(bucket.verdict_at, bucket.conflict_seen):
            return False
        bucket.conflict_seen = at
        if bucket.skips:
            bucket.skips -= 1
            return False
        return True

    def _try(self, bucket: _Bucket, n_threads: int, n_tokens: int) -> int:
        """Start a try of ``n_threads`` on the shape of ``n_tokens``-token steps."""
        bucket.trying, bucket.tried, bucket.stale = self._run(bucket, n_tokens) - 1, n_threads, n_threads
        self._loser_ran(bucket)
        return n_threads

    def _loser_ran(self, bucket: _Bucket) -> None:
        """The shape's losing count runs now: the clocks of its next try start over."""
        bucket.tried_step, bucket.tried_at, bucket.tried_total = bucket.steps, bucket.busy, self._busy

    def record(self, n_tokens: int, n_threads: int, seconds: float) -> None:
        """Add a step's measured wall time (averaged per token)."""
        if len(self.candidates) == 1 or n_tokens < 1:
            return
        bucket = self._bucket(n_tokens)
        bucket.busy += seconds
        self._busy += seconds
        switched, self._last = n_threads != self._last, n_threads
        first = n_threads not in self._used
        if first:
            self._used |= {n_threads}
        if switched and (first or seconds < SWITCH_NEGLIGIBLE):  # it also woke or parked a thread
            return
        average, per_token = bucket.average, seconds / n_tokens
        old = average.get(n_threads)
        if old is None or bucket.stale == n_threads:
            average[n_threads], bucket.stale = per_token, 0
        else:
            average[n_threads] = old + ALPHA * (min(per_token, OUTLIER * old) - old)

    def __str__(self) -> str:
        if len(self.candidates) == 1:
            return str(self.candidates[0])
        return "adaptive " + "/".join(map(str, self.candidates))
