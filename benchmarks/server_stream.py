"""Decode speed and time to first token through the epistula server, against the raw
engine measured in the same run.

    python benchmarks/server_stream.py [--concurrency 1] [--tokens 128]

Starts ``epistula serve`` as a subprocess on the default model, streams requests over
HTTP with temperature 0 (API version 2023-06-01), and prints JSON with, for each
concurrency N: aggregate decode tokens/s through the server (tokens after each stream's
first token, over the time from the first first-token to the last token), the raw
batched ``llama_decode`` rate for a batch of N measured by ``raw_llamacpp.py`` in this
run, their ratio, and the median time to first token.

Meant for one stream (decode rate and time to first token). For several concurrent
streams use ``concurrency.py``: here the client shares this process with the raw
measurement's leftovers and uses ``httpx``, and the span counts the staggered prefill
of later streams as decode time, so multi-stream ratios come out too low.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import HEADERS, MODEL, server
from raw_llamacpp import default_model_path, measure_raw_decode

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."


async def one_stream(client: httpx.AsyncClient, url: str, tokens: int, i: int) -> tuple[float, float, float, int]:
    body = {
        "model": MODEL,
        "max_tokens": tokens,
        "stream": True,
        "temperature": 0,
        "messages": [{"role": "user", "content": f"{PROMPT} (story {i})"}],
    }
    start = time.perf_counter()
    first = last = 0.0
    output = 0
    async with client.stream("POST", f"{url}/v1/messages", json=body, headers=HEADERS) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "content_block_delta":
                now = time.perf_counter()
                first = first or now
                last = now
            elif event["type"] == "message_delta":
                output = int(event["usage"]["output_tokens"])
    return start, first, last, output


async def run_level(url: str, n: int, tokens: int) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=600) as client:
        await one_stream(client, url, 8, -1)  # warm-up
        results = await asyncio.gather(*(one_stream(client, url, tokens, i) for i in range(n)))
    decode_tokens = sum(max(out - 1, 0) for _, _, _, out in results)
    span = max(r[2] for r in results) - min(r[1] for r in results)
    ttft = statistics.median(r[1] - r[0] for r in results)
    return {
        "server_tok_s": decode_tokens / span if span > 0 else 0.0,
        "ttft_s": ttft,
        "output_tokens": float(sum(r[3] for r in results)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1])
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    model = default_model_path()
    raw = measure_raw_decode(model, batch_sizes=tuple(args.concurrency), tokens=args.tokens)
    with server() as (_, url):
        report = {}
        for n in args.concurrency:
            level = asyncio.run(run_level(url, n, args.tokens))
            level["raw_tok_s"] = raw[n]
            level["ratio"] = level["server_tok_s"] / raw[n]
            report[str(n)] = {k: round(v, 3) for k, v in level.items()}
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
