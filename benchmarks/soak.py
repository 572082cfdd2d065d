"""Soak: N concurrent streaming clients against ``epistula serve`` on the default model for a
fixed time (issue 11: 64 streams for 10 minutes), each sending one request after another.

Reports every status seen (5xx must be none; past capacity the answer is 529 with
``retry-after``, which the client honours), streams that ended without ``message_stop``,
and the server's resident memory sampled every few seconds (first, peak, last), so that
"RSS bounded" is a measurement, not an impression.

    python benchmarks/soak.py --streams 64 --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections import Counter
from typing import Any

import httpx
from common import HEADERS, MODEL, rss_mb, server

PROMPTS = ["Write a haiku about the sea.", "Name three rivers.", "Say hi.", "Count to ten.", "Describe a cat."]


async def _client(url: str, until: float, tokens: int, seen: Counter[str], rng: random.Random) -> None:
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=600) as http:
        while time.monotonic() < until:
            body: dict[str, Any] = {
                "model": MODEL,
                "max_tokens": tokens,
                "stream": True,
                "messages": [{"role": "user", "content": rng.choice(PROMPTS)}],
            }
            try:
                async with http.stream("POST", "/v1/messages", json=body) as resp:
                    seen[f"status {resp.status_code}"] += 1
                    if resp.status_code != 200:
                        await resp.aread()
                        await asyncio.sleep(float(resp.headers.get("retry-after", "1")))
                        continue
                    text = "".join([chunk async for chunk in resp.aiter_text()])
                    seen["complete" if "event: message_stop" in text else "incomplete"] += 1
            except httpx.HTTPError as exc:
                seen[f"transport {type(exc).__name__}"] += 1


async def _sample(pid: int, until: float, every: float, samples: list[float]) -> None:
    while time.monotonic() < until:
        samples.append(rss_mb(pid))
        await asyncio.sleep(every)


async def soak(url: str, pid: int, streams: int, seconds: float, tokens: int) -> tuple[Counter[str], list[float]]:
    until = time.monotonic() + seconds
    seen: Counter[str] = Counter()
    samples: list[float] = []
    rng = random.Random(7)
    clients = [_client(url, until, tokens, seen, random.Random(rng.random())) for _ in range(streams)]
    await asyncio.gather(_sample(pid, until, 5.0, samples), *clients)
    samples.append(rss_mb(pid))
    return seen, samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=64, help="max_tokens of each request")
    args = parser.parse_args()
    with server() as (proc, url):
        start = time.monotonic()
        seen, samples = asyncio.run(soak(url, proc.pid, args.streams, args.minutes * 60, args.tokens))
        elapsed = time.monotonic() - start
    errors = sum(v for k, v in seen.items() if k.startswith("status 5") and k != "status 529")
    print(f"{args.streams} streams for {elapsed / 60:.1f} min, load average {os.getloadavg()[0]:.1f}")
    for key, count in sorted(seen.items()):
        print(f"  {key}: {count}")
    print(f"  RSS MB: first {samples[0]:.0f}, peak {max(samples):.0f}, last {samples[-1]:.0f} ({len(samples)} samples)")
    print(f"  RSS MB each minute: {', '.join(f'{mb:.0f}' for mb in samples[::12])}")  # sampled every 5 s
    print(f"  5xx other than 529: {errors}")
    return 1 if errors or seen["incomplete"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
