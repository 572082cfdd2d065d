"""How long ``/health`` waits while a big batch is created: ``epistula serve --engine fake``
as a subprocess, a probe process that asks ``/health`` every 10 ms, and one create of
``--requests`` small requests (``--pad`` bytes each) plus three of 3.6 MB, valid, then the
same with one bad request at the end. ``docs/hardening.md`` records runs.

    python benchmarks/batch_body.py                          # 48,000 requests, 31.8 MB
    python benchmarks/batch_body.py --requests 90000 --pad 1000   # 113 MB
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import HEADERS, server

PROBE = """
import os, sys, time, httpx
url, out, stop = sys.argv[1:4]
with httpx.Client() as client, open(out, "w") as lines:
    while not os.path.exists(stop):
        t = time.time(); client.get(url + "/health"); lines.write(f"{t} {time.time() - t}\\n"); time.sleep(0.01)
"""


def _body(count: int, pad: int, bad: bool) -> bytes:
    def item(custom_id: str, content: str, max_tokens: Any = 8) -> dict[str, Any]:
        messages = [{"role": "user", "content": content}]
        return {"custom_id": custom_id, "params": {"model": "fake", "max_tokens": max_tokens, "messages": messages}}

    requests = [item(f"r{i}", f"hello number {i}, " + "x" * pad) for i in range(count)]
    requests += [item(f"L{i}", "lorem ipsum dolor " * 200_000) for i in range(3)]
    if bad:
        requests.append(item("bad", "x", max_tokens="8"))
    return json.dumps({"requests": requests}).encode()


def _create(url: str, body: bytes) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="epistula-probe-"))
    out, stop = folder / "probes", folder / "stop"
    probe = subprocess.Popen([sys.executable, "-c", PROBE, url, str(out), str(stop)])
    time.sleep(0.5)
    start = time.time()
    resp = httpx.post(url + "/v1/messages/batches", headers=HEADERS, content=body, timeout=600)
    took = time.time() - start
    time.sleep(0.3)
    stop.touch()
    probe.wait()
    probes = [tuple(map(float, line.split())) for line in out.read_text().splitlines()]
    during = [latency for at, latency in probes if start <= at <= start + took]
    return {
        "body_mb": round(len(body) / 1e6, 1),
        "status": resp.status_code,
        "answer": resp.json().get("error", {}).get("message", "ok"),
        "create_s": round(took, 2),
        "probes": len(during),
        "worst_health_ms": round(max(during, default=0.0) * 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=48_000)
    parser.add_argument("--pad", type=int, default=300)
    args = parser.parse_args()
    with server("--engine", "fake") as (_, url):
        warm = {"model": "fake", "messages": [{"role": "user", "content": "x " * 200_000}]}
        httpx.post(url + "/v1/messages/count_tokens", headers=HEADERS, json=warm, timeout=120)  # starts the worker
        for bad in (True, False):
            print(json.dumps({"bad_at_end": bad, **_create(url, _body(args.requests, args.pad, bad))}), flush=True)


if __name__ == "__main__":
    main()
