"""Aggregate output tokens/s through the HTTP server at several concurrencies, against the
raw batched ``llama_decode`` rate for the same batch sizes measured in the same run.

    python benchmarks/concurrency.py [--concurrency 1 4 8 16] [--tokens 128] [--repeats 2]

What runs where (the machine has two cores, so the measurement must not compete with
what it measures more than a real deployment would):

* ``epistula serve`` runs as a subprocess (the real CLI, default settings, 16 sequences).
* The load generator is a separate process (:mod:`raw_stream`): N raw HTTP/1.1
  connections on one asyncio loop, no HTTP library and no SDK. It records a
  ``perf_counter`` timestamp for every ``content_block_delta``.
* The raw rate is ``raw_llamacpp.measure_raw_decode`` in this process while the server is
  idle, measured right before each server level (alternating, so both see the same
  machine conditions), with the same per-sequence KV layout and thread count.

Per concurrency N it reports:

``steady``
    The rate while all N streams are decoding: the window from the moment the last
    stream received its first token to the moment the first stream received its last
    one; the text deltas received inside the window over its length. This is the
    like-for-like comparison with the raw rate (which also decodes N sequences per step,
    prompts prefilled outside the timing). Deltas are counted, not tokens: a token that
    ends inside a UTF-8 character or is held back (leading whitespace) sends no delta,
    so this slightly *under*-counts (``deltas_per_token`` shows by how much).
``end_to_end``
    All output tokens (``usage.output_tokens``) over the wall time from sending the N
    requests to the end of the last stream: includes HTTP and prompt handling, chunked
    prefill while other streams already decode, time to first token and the ragged
    tail where fewer than N streams remain. What a client fleet sees; the raw rate has
    none of those costs, so this ratio is below the steady one by construction.

``loop_cpu_us_per_token`` / ``engine_cpu_us_per_token`` / ``client_cpu_us_per_token``
    CPU time per output token of the server's main thread (event loop: HTTP, SSE, the
    generation pipeline), of its other threads (the engine worker: batching, ``llama_decode``,
    sampling), and of the load generator. CPU time, unlike wall time, barely depends on
    what else runs on the machine, so these show where the server spends its effort even
    when the rates are noisy.

After the levels it prints the server's peak RSS (``VmHWM`` from ``/proc/PID/status``),
which by then covers the largest level's load, and its RSS when idle before any request.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import rss_mb, server
from raw_stream import run_clients

# ---------------------------------------------------------------- analysis


def analyse(streams: list[dict[str, Any]]) -> dict[str, float]:
    """Steady-state and end-to-end tokens/s of one level (see the module docstring)."""
    errors = [s["error"] for s in streams if s["error"]]
    if errors:
        raise RuntimeError(f"{len(errors)} streams failed: {errors[0]}")
    firsts = [s["stamps"][0] for s in streams]
    lasts = [s["stamps"][-1] for s in streams]
    t0, t1 = max(firsts), min(lasts)
    inside = sum(sum(1 for t in s["stamps"] if t0 < t <= t1) for s in streams)
    output = sum(s["output_tokens"] for s in streams)
    deltas = sum(len(s["stamps"]) for s in streams)
    wall = max(s["done"] for s in streams) - min(s["sent"] for s in streams)
    return {
        "steady_tok_s": inside / (t1 - t0) if t1 > t0 else float("nan"),
        "steady_window_s": t1 - t0,
        "end_to_end_tok_s": output / wall,
        "wall_s": wall,
        "ttft_median_s": statistics.median(f - s["sent"] for f, s in zip(firsts, streams, strict=True)),
        "output_tokens": output,
        "deltas_per_token": deltas / output,
    }


# ---------------------------------------------------------------- orchestration


def _thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of the process's main thread (the event loop) and of all its other
    threads (the engine's worker, ggml's threads): ``schedstat`` (nanoseconds), or
    ``stat`` (clock ticks) where the kernel has no schedstat."""
    main = others = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            seconds = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0]) / 1e9
        except (OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if int(tid) == pid:
            main += seconds
        else:
            others += seconds
    return main, others


def _run_level(url: str, pid: int, n: int, tokens: int, tag: int) -> dict[str, float]:
    """One server run at concurrency ``n`` (load generator in its own process)."""
    before = _thread_cpu(pid)
    result = run_clients(url, n, tokens, tag)
    after = _thread_cpu(pid)
    level = analyse(result["streams"])
    per_token = 1e6 / level["output_tokens"]  # warm-up tokens are few; left in
    level["loop_cpu_us_per_token"] = (after[0] - before[0]) * per_token
    level["engine_cpu_us_per_token"] = (after[1] - before[1]) * per_token
    level["client_cpu_us_per_token"] = result["client_cpu_s"] * per_token
    return level


def _median_by_key(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--tokens", type=int, default=128, help="max_tokens of every stream")
    parser.add_argument("--repeats", type=int, default=2, help="alternating raw/server runs per level (median)")
    parser.add_argument("--model", default=None, help="GGUF path for the raw measurement (default: the bundled one)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).parent))
    from raw_llamacpp import default_model_path, measure_raw_decode

    model = args.model or default_model_path()
    n_seq_max = max(16, *args.concurrency)
    report: dict[str, Any] = {"tokens": args.tokens, "repeats": args.repeats, "levels": {}}
    with server("--n-seq-max", str(n_seq_max)) as (proc, url):
        report["server_idle_rss_mb"] = round(rss_mb(proc.pid, "VmRSS"), 1)
        for n in args.concurrency:
            raws: list[float] = []
            levels: list[dict[str, float]] = []
            for r in range(args.repeats):
                raws.append(measure_raw_decode(model, (n,), args.tokens, n_seq_max=n_seq_max)[n])
                levels.append(_run_level(url, proc.pid, n, args.tokens, tag=n * 10 + r))
            level = _median_by_key(levels)
            raw = statistics.median(raws)
            level["raw_tok_s"] = raw
            level["steady_ratio"] = level["steady_tok_s"] / raw
            level["end_to_end_ratio"] = level["end_to_end_tok_s"] / raw
            report["levels"][str(n)] = {k: round(v, 3) for k, v in level.items()}
            report["levels"][str(n)]["runs"] = [  # each repeat: raw, steady and end-to-end tokens/s
                [round(raw_r, 1), round(lv["steady_tok_s"], 1), round(lv["end_to_end_tok_s"], 1)]
                for raw_r, lv in zip(raws, levels, strict=True)
            ]
            print(f"N={n}: {json.dumps(report['levels'][str(n)])}", file=sys.stderr, flush=True)
        report["server_peak_rss_mb"] = round(rss_mb(proc.pid, "VmHWM"), 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
