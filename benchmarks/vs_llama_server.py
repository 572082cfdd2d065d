"""epistula against llama-server on the same GGUF, same machine, same streaming load.

    python benchmarks/vs_llama_server.py [--concurrency 1 4 16 64] [--tokens 128] [--rounds 3]

Starts both servers and keeps both up for the whole run (the idle one uses no CPU):

* llama-server as ``llama-server -m MODEL -np 16 -c 32768 -kvu`` (default threads). The
  binary is ``--llama-server``, else the one ``../shared/tools/build-llama-server.sh``
  caches under ``~/.cache/llama-server/<version>/bin``.
* ``python -m epistula serve`` on the same GGUF with the same total KV budget
  (``EPISTULA_KV_CACHE_TOKENS=32768``, 16 sequences; ``--epistula-env`` adds or overrides
  variables, e.g. to measure an older checkout).

Each round runs every concurrency N against both servers, alternating which goes first;
levels of up to 4 streams run ``--small-repeats`` times a round (default 3), alternating too.
A run is a separate client process (N raw HTTP/1.1 connections on one asyncio loop, no
HTTP library) that first sends one short warm-up request, then N streaming
``/v1/messages`` requests at once (temperature 0, ``max_tokens`` tokens, a distinct
story prompt per stream, the same prompts for both servers). Per run:

``tok/s``  all output tokens (``usage.output_tokens``) over the wall time from sending the
           N requests to the last byte of the last stream: end to end, as a client sees it.
``TTFT``   median time from sending a request to its first ``content_block_delta``.

Medians over the runs are printed as one table with the ratios (epistula / llama-server;
above 1 is better for tok/s, below 1 is better for TTFT and RSS). The tok/s ratios are given
twice: of the medians, and the median of each run's ratio to its neighbour run (the other
server's run, or the raw measurement, taken seconds apart): this machine's speed drifts by
tens of percent over minutes, and a neighbour saw the same drift. Also each process's
idle RSS (after start-up, before any request) and peak RSS (``VmHWM`` at the end), and
the load average around each run (other jobs on the machine skew everything).

With ``--raw`` (default on) every run of a level up to 16 streams is preceded by raw batched
``llama_decode`` with native greedy sampling on all cores and a unified 32,768-cell cache
(``raw_llamacpp.py`` in a process of its own) while both servers idle, decoding as many tokens per
stream as the servers generate (``--raw-tokens``, default ``--tokens``): the ceiling a server
could reach. It is favoured: its prompts are prefilled in one 512-token batch outside the
timing, where a server's time includes its prefill.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import KEY, free_port, rss_mb, wait_healthy
from raw_stream import run_clients

RAW_MAX_BATCH = 16
"""The raw baseline prefills all its prompts in one 512-token batch: at most 16 of them."""
SMALL_LEVEL = 4
"""Levels up to this many streams run ``--small-repeats`` times a round: a run lasts a few
seconds, and one run's throughput moves by 15% and more with the machine."""

# ---------------------------------------------------------------- servers


@contextmanager
def _process(name: str, argv: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[int]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(proc, url, name)
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def llama_server_binary(explicit: str | None) -> str:
    if explicit:
        return explicit
    found = sorted(glob.glob(os.path.expanduser("~/.cache/llama-server/*/bin/llama-server")))
    if found:
        return found[-1]
    script = Path(__file__).resolve().parents[2] / "shared/tools/build-llama-server.sh"
    if script.is_file():
        out = subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True)
        return out.stdout.strip().splitlines()[-1]
    raise SystemExit("llama-server not found: pass --llama-server PATH (see ../shared/tools/build-llama-server.sh)")


# ---------------------------------------------------------------- measurement


def run_level(url: str, n: int, tokens: int, tag: int) -> dict[str, float]:
    """One client process against one server: end-to-end tok/s and median TTFT."""
    load_before = os.getloadavg()[0]
    streams: list[dict[str, Any]] = run_clients(url, n, tokens, tag)["streams"]
    errors = [s["error"] for s in streams if s["error"]]
    if errors:
        raise RuntimeError(f"{url}: {len(errors)} of {n} streams failed: {errors[0]}")
    wall = max(s["done"] for s in streams) - min(s["sent"] for s in streams)
    return {
        "tok_s": sum(s["output_tokens"] for s in streams) / wall,
        "ttft_s": statistics.median(s["first"] - s["sent"] for s in streams),
        "load": (load_before + os.getloadavg()[0]) / 2,
    }


def raw_rate(model: str, n: int, tokens: int, ctx: int, threads: int) -> float:
    """Raw decode tok/s of ``n`` streams, in a process of its own: ggml's threads leave with
    it (left in this process they spun on, and the next server run paid for them)."""
    argv = [sys.executable, str(Path(__file__).with_name("raw_llamacpp.py")), "--model", model]
    argv += ["--batch-sizes", str(n), "--tokens", str(tokens), "--repeats", "1", "--no-high-level"]
    argv += ["--threads", str(threads), "--unified", "--ctx", str(ctx)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=600)
    return float(json.loads(out.stdout)["raw_tok_s"][str(n)])


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _paired(runs: Sequence[dict[str, float]], others: Sequence[dict[str, float]]) -> float:
    """The median of each run's tok/s over its neighbour's (same round and repeat)."""
    return _median([a["tok_s"] / b["tok_s"] for a, b in zip(runs, others, strict=True)])


def table(results: dict[str, Any], levels: Sequence[int]) -> str:
    """Medians per level: each server's tok/s and TTFT, and the ratios to llama-server."""
    names = [name for name in results["rss_mb"] if name != "llama-server"]
    raw = results.get("raw", {})
    head = ["streams", "llama-server tok/s"]
    for name in names:
        head += [f"{name} tok/s", f"**{name} / llama-server**"]
    head += ["llama-server TTFT"]
    for name in names:
        head += [f"{name} TTFT", f"**{name} TTFT / llama-server**"]
    head += ["raw all-core tok/s", f"{names[0]} / raw", "paired ratios", "load avg"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in levels:
        runs = {name: results[name][str(n)] for name in ["llama-server", *names]}
        tok = {name: _median([r["tok_s"] for r in rs]) for name, rs in runs.items()}
        ttft = {name: _median([r["ttft_s"] for r in rs]) for name, rs in runs.items()}
        raw_tok = _median(raw.get(str(n), []))
        row = [str(n), f"{tok['llama-server']:.1f}"]
        for name in names:
            row += [f"{tok[name]:.1f}", f"**{tok[name] / tok['llama-server']:.2f}**"]
        row += [f"{ttft['llama-server'] * 1000:.0f} ms"]
        for name in names:
            row += [f"{ttft[name] * 1000:.0f} ms", f"**{ttft[name] / ttft['llama-server']:.2f}**"]
        row += [f"{raw_tok:.1f}", f"{tok[names[0]] / raw_tok:.2f}"]
        paired = [f"{_paired(runs[names[0]], runs['llama-server']):.2f} vs llama-server"]
        if raw.get(str(n)):
            paired.append(f"{_paired(runs[names[0]], [{'tok_s': v} for v in raw[str(n)]]):.2f} vs raw")
        row += [", ".join(paired)]
        row += [f"{_median([r['load'] for rs in runs.values() for r in rs]):.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    rss = results["rss_mb"]
    lines += ["", "| RSS (MiB) | " + " | ".join(rss) + " |", "|---|" + "---|" * len(rss)]
    for kind in ("idle", "peak"):
        cells = [f"{rss[name][kind]:.0f} ({rss[name][kind] / rss['llama-server'][kind]:.2f}x)" for name in rss]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--tokens", type=int, default=128, help="max_tokens of every stream")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians are reported)")
    parser.add_argument("--ctx", type=int, default=32768, help="total KV cells of each server")
    parser.add_argument("--parallel", type=int, default=16, help="sequence slots of each server")
    parser.add_argument("--llama-server", default=None, help="the llama-server binary")
    parser.add_argument("--model", default=None, help="the GGUF (default: the bundled SmolLM2)")
    parser.add_argument("--epistula-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--baseline-src", default=None, help="also run epistula from this src/ directory (e.g. an older checkout)"
    )
    parser.add_argument("--baseline-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--no-raw", dest="raw", action="store_false", help="skip the raw llama_decode baseline")
    parser.add_argument(
        "--raw-tokens", type=int, default=None, help="decode steps timed by the raw baseline (default: --tokens)"
    )
    parser.add_argument(
        "--small-repeats",
        type=int,
        default=3,
        help=f"runs per round of each level of at most {SMALL_LEVEL} streams (a few seconds each)",
    )
    parser.add_argument("--json", default=None, help="also write every run to this file")
    args = parser.parse_args(argv)

    from raw_llamacpp import default_model_path

    model = args.model or default_model_path()
    cores = len(os.sched_getaffinity(0))
    port = free_port()
    servers: list[tuple[str, list[str], dict[str, str] | None, int]] = [
        ("llama-server", [llama_server_binary(args.llama_server), "-m", model, "-np", str(args.parallel)], None, port)
    ]
    servers[0][1].extend(["-c", str(args.ctx), "-kvu", "--port", str(port)])
    variants = [("epistula", args.epistula_env, None)]
    if args.baseline_src:
        variants.append(("baseline", args.baseline_env, args.baseline_src))
    for name, overrides, src in variants:
        port = free_port()
        env = {
            **os.environ,
            "EPISTULA_API_KEY": KEY,
            "EPISTULA_DATA_DIR": tempfile.mkdtemp(prefix="epistula-bench-"),
            "EPISTULA_N_SEQ_MAX": str(args.parallel),
            "EPISTULA_KV_CACHE_TOKENS": str(args.ctx),
            "EPISTULA_LOG_LEVEL": "warning",
        }
        if src:
            env["PYTHONPATH"] = src
        if args.model:
            env["EPISTULA_MODEL"] = args.model
        env.update(dict(item.split("=", 1) for item in overrides))
        servers.append((name, [sys.executable, "-m", "epistula", "serve", "--port", str(port)], env, port))
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": cores,
        "argv": sys.argv[1:],
        "raw": {str(n): [] for n in args.concurrency},
        "rss_mb": {},
    }
    with ExitStack() as stack:
        pids = {}
        for name, argv_, env_, port_ in servers:
            pids[name] = stack.enter_context(_process(name, argv_, f"http://127.0.0.1:{port_}", env_))
            results[name] = {str(n): [] for n in args.concurrency}
        for name, pid in pids.items():
            results["rss_mb"][name] = {"idle": rss_mb(pid, "VmRSS")}
        raw_tokens = args.raw_tokens or args.tokens
        for r in range(args.rounds):
            for n in args.concurrency:
                for k in range(args.small_repeats if n <= SMALL_LEVEL else 1):
                    if args.raw and n <= RAW_MAX_BATCH:
                        results["raw"][str(n)].append(raw_rate(model, n, raw_tokens, args.ctx, cores))
                    order = servers if (r + k) % 2 == 0 else servers[::-1]
                    for name, _, _, port_ in order:
                        level = run_level(f"http://127.0.0.1:{port_}", n, args.tokens, tag=n * 100 + r * 10 + k)
                        results[name][str(n)].append(level)
                        print(f"round {r} N={n} {name}: {json.dumps(level)}", file=sys.stderr, flush=True)
                    if args.json:
                        Path(args.json).write_text(json.dumps(results, indent=2))
        for name, pid in pids.items():
            results["rss_mb"][name]["peak"] = rss_mb(pid, "VmHWM")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"{results['date']}, {cores} cores, {args.rounds} rounds, {args.tokens} output tokens per stream\n")
    print(table(results, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
