"""KV layout planning and the adaptive thread policy (pure logic, no model)."""

from __future__ import annotations

import pytest

from epistula.engines.llamacpp import threads
from epistula.engines.llamacpp.kv_layout import INITIAL_CELLS, SPLIT_KV_BUDGET, plan_layout
from epistula.engines.llamacpp.threads import ThreadPolicy

BPT = 23040  # SmolLM2-135M: f16 K+V bytes per token


def test_default_is_streams_of_full_windows_allocated_on_demand() -> None:
    layout = plan_layout(window=8192, n_seq_max=16, budget_tokens=None, unified=None, bytes_per_token=BPT)
    assert not layout.unified and layout.window == 8192
    assert layout.max_cells == 16 * 8192
    assert layout.initial_cells == INITIAL_CELLS  # 16 streams of 256 cells
    assert layout.grown(layout.initial_cells) == 2 * INITIAL_CELLS
    assert layout.grown(layout.max_cells) == layout.max_cells


def test_a_token_budget_below_full_windows_unifies_the_cache() -> None:
    layout = plan_layout(window=8192, n_seq_max=16, budget_tokens=32768, unified=None, bytes_per_token=BPT)
    assert layout.unified and layout.window == 8192 and layout.max_cells == 32768
    assert layout.initial_cells == INITIAL_CELLS
    small = plan_layout(window=8192, n_seq_max=16, budget_tokens=2048, unified=None, bytes_per_token=BPT)
    assert small.unified and small.window == 2048 and small.initial_cells == 2048


def test_big_models_unify_by_default_and_forced_layouts_are_honoured() -> None:
    huge = plan_layout(window=8192, n_seq_max=16, budget_tokens=None, unified=None, bytes_per_token=SPLIT_KV_BUDGET)
    assert huge.unified and huge.max_cells == 8192
    split = plan_layout(window=8192, n_seq_max=16, budget_tokens=32768, unified=False, bytes_per_token=BPT)
    assert not split.unified and split.window == 2048 and split.max_cells == 32768
    unified = plan_layout(window=256, n_seq_max=4, budget_tokens=None, unified=True, bytes_per_token=BPT)
    assert unified.unified and unified.window == 256 and unified.max_cells == 256


def test_thread_policy_prefers_the_faster_count_and_keeps_checking() -> None:
    policy = ThreadPolicy.adaptive(2)
    assert policy.candidates == (2, 1) and str(policy) == "adaptive 2/1"
    speed = {2: 0.010, 1: 0.018}
    picks = []
    for _ in range(400):
        n = policy.choose(16)
        picks.append(n)
        policy.record(16, n, speed[n])
    assert picks[:2] == [1, 2]  # the safe count first, then at once the other is tried
    assert 0 < picks[2:].count(1) < 40  # then mostly the faster one, the other now and then
    speed = {2: 0.200, 1: 0.018}  # the machine got busy: two threads collapse
    later = []
    for _ in range(200):
        n = policy.choose(16)
        later.append(n)
        policy.record(16, n, speed[n])
    assert later[-100:].count(1) > 90
    # A new shape takes the winner; the count that collapsed is not tried on its second step.
    assert [policy.choose(200) for _ in range(8)] == [1] * 8


def test_thread_policy_compares_prompt_chunks_of_different_sizes_per_token() -> None:
    """A long prompt's 512-token chunks and a short prompt share a bucket: the count
    that is faster per token must win, whichever count the long chunks ran with."""
    policy = ThreadPolicy.adaptive(2)
    per_token = {2: 0.0025, 1: 0.005}
    for n_tokens in (40, 40, 512, 512, 512, 476):  # short prompts, then a long one
        n = policy.choose(n_tokens)
        policy.record(n_tokens, n, per_token[n] * n_tokens)
    assert [policy.choose(40) for _ in range(8)].count(2) >= 7


def test_fixed_and_single_core_policies_never_change() -> None:
    assert {ThreadPolicy.fixed(3).choose(n) for n in (1, 16, 512)} == {3}
    assert ThreadPolicy.adaptive(1).candidates == (1,)


def test_thread_policy_does_not_blame_a_count_for_the_step_that_switched_to_it() -> None:
    """The first step after a change of count wakes or parks ggml's extra thread. Timed alone,
    every try of two threads after one-thread steps looked slow, and one stream on an idle
    2-core machine stayed on one core."""
    policy = ThreadPolicy.adaptive(2)
    base = {2: 0.010, 1: 0.014}
    last, picks = 1, []  # the context starts on the safe count
    for _ in range(400):
        n = policy.choose(1)
        picks.append(n)
        policy.record(1, n, base[n] + (0.02 if n != last else 0.0))
        last = n
    assert picks[-200:].count(2) > 180


def test_a_busy_spell_that_is_over_is_forgotten_at_the_next_try() -> None:
    """Two threads collapsed for a while (another process held a core); once the machine is
    quiet again, the first try of two threads is enough to go back to them."""
    policy = ThreadPolicy.adaptive(2)
    busy, quiet = {2: 0.030, 1: 0.012}, {2: 0.008, 1: 0.012}
    for _ in range(100):
        n = policy.choose(1)
        policy.record(1, n, busy[n])
    assert policy.choose(1) == 1
    picks = []
    for _ in range(1200):
        n = policy.choose(1)
        picks.append(n)
        policy.record(1, n, quiet[n])
    first_try = picks.index(2)
    assert picks[first_try : first_try + 300].count(2) > 280  # the loser is only retried now and then


def test_a_verdict_from_one_disturbed_step_is_checked_again_soon() -> None:
    """One slow two-thread step (another process's threads still spinning) does not flip
    the policy; a few do, and that verdict is not believed until a try of two threads has
    lost too."""
    policy = ThreadPolicy.adaptive(2)
    quiet = {2: 0.008, 1: 0.012}
    for _ in range(40):  # an idle machine: two threads win
        n = policy.choose(1)
        policy.record(1, n, quiet[n])
    assert policy.choose(1) == 2
    policy.record(1, 2, 0.060)  # one disturbed step
    assert policy.choose(1) == 2
    for _ in range(3):  # a short disturbed spell
        policy.record(1, 2, 0.060)
    assert policy.choose(1) == 1
    assert [policy.choose(4) for _ in range(2)] == [1, 2]  # a new shape tries two threads at once
    picks = []
    for _ in range(2 * 16):
        n = policy.choose(1)
        picks.append(n)
        policy.record(1, n, quiet[n])
    assert picks[-8:] == [2] * 8  # the single-token shape went back within RECHECK_AFTER steps


class _Clock:
    now = 0.0

    @classmethod
    def perf_counter(cls) -> float:
        return cls.now


class _Context:
    """Stands in for a llama context: each decode advances the clock by its thread count's cost."""

    def __init__(self, cost: dict[int, float]) -> None:
        self.cost, self.n_threads, self.decoded, self.removed = cost, 0, [], []

    def set_threads(self, n_threads: int) -> None:
        self.n_threads = n_threads

    def decode(self, batch: object) -> int:
        self.decoded.append(self.n_threads)
        _Clock.now += self.cost[self.n_threads]
        return 0

    def seq_rm(self, seq_id: int) -> None:
        self.removed.append(seq_id)


class _Batch:
    n_tokens = 0

    def clear(self) -> None:
        self.n_tokens = 0

    def add(self, token: int, pos: int, seq_id: int, logits: bool) -> None:
        self.n_tokens += 1


@pytest.mark.parametrize(
    ("cost", "preferred", "two_thread_steps"),
    [
        ({2: 0.010, 1: 0.014}, 2, 4),  # idle machine: every core from the first request
        ({2: 0.200, 1: 0.014}, 1, 2),  # busy machine: two threads collapse; stop at once
    ],
)
def test_warm_up_seeds_the_policy_and_leaves_no_cells(
    monkeypatch: pytest.MonkeyPatch, cost: dict[int, float], preferred: int, two_thread_steps: int
) -> None:
    """A fresh context's first steps pay one-time costs: the warm-up takes them, then its
    timed steps decide the count the first request starts with."""
    monkeypatch.setattr(threads, "time", _Clock)
    policy, ctx = ThreadPolicy.adaptive(2), _Context(cost)
    policy.warm_up(ctx, _Batch(), token=1)  # type: ignore[arg-type]
    assert ctx.decoded == [1] * 4 + [2] * two_thread_steps and ctx.removed == [0]
    assert policy.choose(1) == preferred and policy.choose(40) == preferred


def test_a_collapse_at_warm_up_is_tried_again_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two servers warming up together see each other's threads: two threads collapse for
    both. The verdict holds for a while, then by time (not steps) it is tried again, on
    the shapes that run now, and the quiet machine gets both cores back."""
    monkeypatch.setattr(threads, "time", _Clock)
    policy = ThreadPolicy.adaptive(2)
    policy.warm_up(_Context({2: 0.049, 1: 0.014}), _Batch(), token=1)  # type: ignore[arg-type]
    assert policy.choose(1) == 1
    start, quiet = _Clock.now, {2: 0.030, 1: 0.050}  # 4-stream steps once the other server is idle
    picks = []
    for _ in range(500):
        n = policy.choose(4)
        picks.append(n)
        _Clock.now += quiet[n]
        policy.record(4, n, quiet[n])
    first = picks.index(2)
    assert picks[:100] == [1] * 100  # the collapse is believed at first...
    assert first < 300  # ...for seconds (~12 here: tries take at most 5% of the time), not 1024 steps
    assert picks[first:].count(2) > 0.9 * len(picks[first:])
    assert _Clock.now - start < 25


def test_warm_up_with_one_count_only_pays_the_one_time_costs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "time", _Clock)
    ctx = _Context({3: 0.01})
    ThreadPolicy.fixed(3).warm_up(ctx, _Batch(), token=1)  # type: ignore[arg-type]
    assert ctx.decoded == [3] * 4 and ctx.removed == [0]


def _requests(
    policy: ThreadPolicy, cost: dict[int, dict[int, float]], count: int, pause: float = 0.0, shape: int = 10
) -> list[int]:
    """``count`` one-stream requests (a 10-token prompt, then single-token steps); the
    thread count of every step of ``shape`` tokens (by default the prompt's). The client
    waits ``pause`` seconds between requests."""
    picks = []
    for _ in range(count):
        for n_tokens, steps in ((10, 1), (1, 128)):
            for _ in range(steps):
                n = policy.choose(n_tokens)
                if n_tokens == shape:
                    picks.append(n)
                _Clock.now += cost[n_tokens][n]
                policy.record(n_tokens, n, cost[n_tokens][n])
        _Clock.now += pause  # nothing runs
    return picks


def test_pauses_between_requests_do_not_make_prompts_try_the_slower_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-stream prompt is one step per request, and a try lasts several steps. Counted
    in wall time, every request after a pause found the loser due for a try and prefilled on
    one core; counted in decoding time, tries stay rare on every shape."""
    monkeypatch.setattr(threads, "time", _Clock)
    policy = ThreadPolicy.adaptive(2)
    policy.warm_up(_Context({2: 0.008, 1: 0.012}), _Batch(), token=1)  # type: ignore[arg-type]
    cost = {1: {2: 0.008, 1: 0.012}, 10: {2: 0.045, 1: 0.075}}  # a decode step, a 10-token prompt
    prompt_picks = _requests(policy, cost, 60, pause=30.0)
    assert prompt_picks[10:].count(1) <= 3


def test_a_try_on_prompts_lasts_one_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """A prompt step is long enough to be timed right after the switch, so one step is a
    try: a three-step try of the slower count made three one-stream requests in a row
    prefill on one core."""
    monkeypatch.setattr(threads, "time", _Clock)
    policy = ThreadPolicy.adaptive(2)
    policy.warm_up(_Context({2: 0.008, 1: 0.012}), _Batch(), token=1)  # type: ignore[arg-type]
    cost = {1: {2: 0.008, 1: 0.012}, 10: {2: 0.045, 1: 0.075}}
    prompt_picks = "".join(map(str, _requests(policy, cost, 150)))
    assert "1" in prompt_picks and "11" not in prompt_picks, prompt_picks


def test_a_verdict_made_under_load_is_checked_again_once_the_machine_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of 64 streams kept a client process busy: its last steps, with 8 to 15
    sequences, ran two threads into a collapse, and that shape settled on one thread. The
    next one-stream prompts have the same shape; they get both cores back as soon as the
    single-token steps, measured all the time, have confirmed two threads again, not after
    hundreds of requests."""
    monkeypatch.setattr(threads, "time", _Clock)
    policy = ThreadPolicy.adaptive(2)
    policy.warm_up(_Context({2: 0.008, 1: 0.012}), _Batch(), token=1)  # type: ignore[arg-type]
    for _ in range(60):  # the burst's tail: 10 sequences a step, two threads collapse
        n = policy.choose(10)
        policy.record(10, n, {2: 0.400, 1: 0.110}[n])
    assert policy.choose(10) == 1
    quiet = {1: {2: 0.008, 1: 0.012}, 10: {2: 0.045, 1: 0.075}}
    picks = _requests(policy, quiet, 20)
    assert picks[7:] == [2] * 13


def test_a_quiet_idle_spell_gives_prompts_every_core_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same burst, then the worker idles while the machine is quiet (``/proc/stat``,
    :mod:`.cpuload`): the first prompt after it already checks two threads again."""
    monkeypatch.setattr(threads, "time", _Clock)
    policy = ThreadPolicy.adaptive(2)
    policy.warm_up(_Context({2: 0.008, 1: 0.012}), _Batch(), token=1)  # type: ignore[arg-type]
    for _ in range(60):
        n = policy.choose(10)
        policy.record(10, n, {2: 0.400, 1: 0.110}[n])
    policy.quiet()
    quiet = {1: {2: 0.008, 1: 0.012}, 10: {2: 0.045, 1: 0.075}}
    picks = _requests(policy, quiet, 8)
    assert picks[:3] == [2, 2, 2] and picks.count(2) >= 7, picks  # one try of one thread may follow


def test_a_shape_that_really_prefers_fewer_threads_is_rechecked_rarely(monkeypatch: pytest.MonkeyPatch) -> None:
    """When one shape really is faster on one thread while single tokens are faster on two,
    the single-token verdicts do not make the prompt shape try two threads every request."""
    monkeypatch.setattr(threads, "time", _Clock)
    policy = ThreadPolicy.adaptive(2)
    policy.warm_up(_Context({2: 0.008, 1: 0.012}), _Batch(), token=1)  # type: ignore[arg-type]
    odd = {1: {2: 0.008, 1: 0.012}, 10: {2: 0.090, 1: 0.060}}
    picks = _requests(policy, odd, 600)
    assert picks[-300:].count(2) <= 20  # tries, re-checks included: under 7% of the prompts


def test_one_stream_on_an_idle_machine_rarely_tries_fewer_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer threads cannot collapse, so the average they left stays true, and the winner's
    own steps show at once when it slows down: their tries can be rare. Tried as often as a
    losing count with more threads, one thread ran 4.7 of every 128 steps of one stream
    (~3% of its tokens on a 2-core machine)."""
    monkeypatch.setattr(threads, "time", _Clock)
    policy = ThreadPolicy.adaptive(2)
    policy.warm_up(_Context({2: 0.0071, 1: 0.0115}), _Batch(), token=1)  # type: ignore[arg-type]
    cost = {1: {2: 0.0071, 1: 0.0115}, 10: {2: 0.034, 1: 0.060}}
    singles = _requests(policy, cost, 40, shape=1)
    assert 0 < singles[128:].count(1) <= 39 * 1.5  # still tried, about once a request at most


def test_the_fewer_count_follows_the_cores_others_keep_busy() -> None:
    """On 16 cores, all cores and all but one collapse alike once two cores are busy
    elsewhere (measured: 15 threads at 42-90 tok/s where 14 ran ~300). Two load readings in
    a row that ask for another fewer count replace it, and every shape then tries it."""
    policy = ThreadPolicy.adaptive(16)
    assert policy.candidates == (16, 15)
    assert [policy.fewer_for(x) for x in (0.0, 1.2, 1.4, 2.0, 3.1, 20.0)] == [15, 15, 14, 14, 13, 8]
    assert ThreadPolicy.adaptive(2).fewer_for(5.0) == 1
    cost = {16: 0.080, 15: 0.040, 14: 0.0035}  # per single-token step, two cores busy elsewhere
    for _ in range(40):
        n = policy.choose(1)
        policy.record(1, n, cost[n])
    assert policy.choose(1) == 15  # the lesser of two collapses
    policy.follow(2.0)
    assert policy.candidates == (16, 15)  # one reading is not enough
    policy.follow(2.8)  # readings scatter: the milder of two that agree on the direction
    assert policy.candidates == (16, 14)
    policy.follow(2.9)
    policy.follow(2.0)
    assert policy.candidates == (16, 14)  # 13, then 14 again: no direction agreed
    picks = []
    for _ in range(200):
        n = policy.choose(1)
        picks.append(n)
        policy.record(1, n, cost[n])
    assert picks[-150:].count(14) > 140
    policy.follow(0.1)
    policy.follow(0.1)
    assert policy.candidates == (16, 15)  # the busy spell is over
