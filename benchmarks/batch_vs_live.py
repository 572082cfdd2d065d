"""The same requests as one Message Batch and as live traffic, through the real server and
the official SDK.

    python benchmarks/batch_vs_live.py [--n 1000] [--max-tokens 16] [--concurrency 4 8 16]
                                       [--batch-concurrency N]

Starts ``epistula serve`` as a subprocess on the default model (fresh data directory,
SQLite), then:

* **batch**: ``client.messages.batches.create`` with N requests, polled with
  ``retrieve`` until ``ended``, then every result read with ``batches.results``. The wall
  time runs from the create call to the last result line.
* **live**: the same N requests sent with ``client.messages.create`` (``AsyncAnthropic``)
  at each concurrency C (C requests in flight at any moment); wall time from the first
  send to the last reply.

Requests are small on purpose (a one-line prompt, ``max_tokens`` 16 by default) so that
1,000 of them take minutes on a small CPU host. Greedy decoding (``temperature: 0``,
API version 2023-06-01) makes both modes generate the same tokens, so their output token
counts are reported side by side to show the work is the same. The report is JSON:
per mode the wall time, requests/s and output tokens/s, and the ratio of the batch's
wall time to the best live one (below 1: the batch was faster).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import anthropic
from common import KEY, MODEL, server

VERSION = {"anthropic-version": "2023-06-01"}  # temperature is a 2023-06-01 parameter
TOPICS = ("the sea", "a lamp", "winter", "bread", "a fox", "the moon", "rain", "a bell", "stone", "a road")


def request_params(i: int, max_tokens: int) -> dict[str, Any]:
    prompt = f"Write one short sentence about {TOPICS[i % len(TOPICS)]} (note {i})."
    return {
        "model": MODEL,
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "user", "content": prompt}],
    }


def run_batch(url: str, requests: list[dict[str, Any]]) -> dict[str, float]:
    client = anthropic.Anthropic(base_url=url, api_key=KEY, default_headers=VERSION, timeout=600, max_retries=2)
    start = time.perf_counter()
    batch = client.messages.batches.create(
        requests=[{"custom_id": f"r{i}", "params": p} for i, p in enumerate(requests)]  # type: ignore[misc]
    )
    while batch.processing_status != "ended":
        time.sleep(0.5)
        batch = client.messages.batches.retrieve(batch.id)
    output_tokens = succeeded = 0
    for line in client.messages.batches.results(batch.id):
        if line.result.type == "succeeded":
            succeeded += 1
            output_tokens += line.result.message.usage.output_tokens
    wall = time.perf_counter() - start
    return _report(wall, len(requests), succeeded, output_tokens)


async def run_live(url: str, requests: list[dict[str, Any]], concurrency: int) -> dict[str, float]:
    client = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, default_headers=VERSION, timeout=600, max_retries=2)
    gate = asyncio.Semaphore(concurrency)
    output_tokens = succeeded = 0

    async def one(params: dict[str, Any]) -> None:
        nonlocal output_tokens, succeeded
        body = dict(params)
        extra = {"temperature": body.pop("temperature")}
        async with gate:
            message = await client.messages.create(**body, extra_body=extra)
        succeeded += 1
        output_tokens += message.usage.output_tokens

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in requests))
    wall = time.perf_counter() - start
    await client.close()
    return _report(wall, len(requests), succeeded, output_tokens)


def _report(wall: float, n: int, succeeded: int, output_tokens: int) -> dict[str, float]:
    return {
        "wall_s": round(wall, 2),
        "requests": n,
        "succeeded": succeeded,
        "requests_per_s": round(n / wall, 2),
        "output_tokens": output_tokens,
        "output_tokens_per_s": round(output_tokens / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="requests per mode (default 1000)")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8, 16], help="live concurrencies to try")
    parser.add_argument(
        "--batch-concurrency",
        type=int,
        default=None,
        help="EPISTULA_BATCH_CONCURRENCY for the server (default: its own)",
    )
    args = parser.parse_args()
    requests = [request_params(i, args.max_tokens) for i in range(args.n)]
    env = {} if args.batch_concurrency is None else {"EPISTULA_BATCH_CONCURRENCY": str(args.batch_concurrency)}
    with server(env=env) as (_, url):
        asyncio.run(run_live(url, [request_params(i, 4) for i in range(4)], 4))  # warm-up: model pages, slots
        report: dict[str, Any] = {
            "n": args.n,
            "max_tokens": args.max_tokens,
            "batch_concurrency": args.batch_concurrency or "server default",
        }
        report["batch"] = run_batch(url, requests)
        print(json.dumps({"batch": report["batch"]}), file=sys.stderr, flush=True)
        live: dict[str, dict[str, float]] = {}
        for concurrency in args.concurrency:
            live[str(concurrency)] = asyncio.run(run_live(url, requests, concurrency))
            print(json.dumps({f"live@{concurrency}": live[str(concurrency)]}), file=sys.stderr, flush=True)
        report["live"] = live
        best = min(live, key=lambda c: live[c]["wall_s"])
        report["best_live_concurrency"] = int(best)
        report["batch_over_best_live_wall"] = round(report["batch"]["wall_s"] / live[best]["wall_s"], 3)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
