"""One stream at a time, two epistula source trees side by side: TTFT, decode rate, and TTFT
after a long request.

    python benchmarks/single_stream.py --baseline-src /path/to/older/checkout/src [--rounds 3]

Starts ``epistula serve`` from this checkout and from ``--baseline-src`` (both up for the
whole run, the idle one uses no CPU; same settings as ``vs_llama_server.py``: 16 sequences,
``EPISTULA_KV_CACHE_TOKENS=32768``, adaptive threads), sends each one short warm-up request,
then per round and server, alternating which goes first:

* a streaming story request (temperature 0, 128 tokens): ``ttft_ms`` (to the first
  ``content_block_delta``) and ``tok_s`` (tokens after the first over the time from first
  to last);
* a long prompt (``--long-words`` words, a few output tokens), then two short requests:
  ``after_long_ms`` is their median TTFT.

Prints each run and the medians with the load average; wall-clock numbers, so run it on a
quiet machine or read them with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import HEADERS, MODEL, server


def stream(url: str, prompt: str, max_tokens: int) -> tuple[float, float]:
    """(seconds to the first text delta, tokens/s after it) of one streaming request."""
    body = {
        "model": MODEL,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
    }
    sent = time.perf_counter()
    first = last = 0.0
    output_tokens = 0
    with httpx.stream("POST", f"{url}/v1/messages", json=body, headers=HEADERS, timeout=900) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data:") and '"content_block_delta"' in line:
                last = time.perf_counter()
                first = first or last
            elif line.startswith("data:") and '"message_delta"' in line:
                output_tokens = json.loads(line[5:])["usage"]["output_tokens"]
    rate = (output_tokens - 1) / (last - first) if last > first else 0.0
    return (first or time.perf_counter()) - sent, rate


def one_round(url: str, tag: int, long_words: int) -> dict[str, float]:
    load = os.getloadavg()[0]
    ttft, rate = stream(url, f"Write a long story about a lighthouse keeper. Story {tag}.", 128)
    stream(url, "Summarize: " + " ".join(f"word{i}" for i in range(long_words)) + f" {tag}", 4)
    after = [stream(url, f"Tell me about the {what} number {tag}.", 4)[0] for what in ("moon", "sea")]
    return {
        "ttft_ms": ttft * 1000,
        "tok_s": rate,
        "after_long_ms": statistics.median(after) * 1000,
        "load": (load + os.getloadavg()[0]) / 2,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--baseline-src", required=True, help="src/ directory of the checkout to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--long-words", type=int, default=600, help="words of the long prompt (~2 tokens each)")
    args = parser.parse_args()
    env = {"EPISTULA_N_SEQ_MAX": "16", "EPISTULA_KV_CACHE_TOKENS": "32768", "EPISTULA_LOG_LEVEL": "warning"}
    trees = {"this": str(Path(__file__).resolve().parents[1] / "src"), "baseline": args.baseline_src}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with ExitStack() as stack:
        urls = {name: stack.enter_context(server(env={**env, "PYTHONPATH": src}))[1] for name, src in trees.items()}
        for url in urls.values():
            stream(url, "hi", 4)
        for r in range(args.rounds):
            for name in list(urls) if r % 2 == 0 else list(urls)[::-1]:
                results[name].append(one_round(urls[name], r, args.long_words))
                print(name, {k: round(v, 1) for k, v in results[name][-1].items()}, flush=True)
    for name, runs in results.items():
        print("median", name, {k: round(statistics.median(run[k] for run in runs), 1) for k in runs[0]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
