"""epistula ``--engine remote`` in front of llama-server, against llama-server used directly.

    python benchmarks/remote_vs_llama_server.py [--streams 1 16 64] [--tokens 64] [--binary PATH]

Starts llama-server on the default model (one slot per stream of the largest level) and
``epistula serve --engine remote --upstream`` it. For each level N it runs N concurrent
streams straight to llama-server's ``/completion`` (the same token prompt epistula sends),
then N through epistula's ``/v1/messages`` (SSE, temperature 0), every stream with its own
question after one long shared system prompt (first N unmeasured streams put that prompt
in N slots' caches, so both paths find it there), and prints JSON: aggregate output tokens/s
of each (tokens over the span from the first request to the last token), their ratio
(the target is >= 0.95), median time to first token, the load average around the run,
and epistula's prefix-routing counters from ``/metrics``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import HEADERS, MODEL, free_port, server, wait_healthy
from raw_llamacpp import default_model_path

from epistula.engines.remote.engine import load_vocab

DEFAULT_BINARY = Path.home() / ".cache/llama-server/11434.0.0/bin/llama-server"
SYSTEM = "You are a storyteller. " + " ".join(f"Guideline {i}: keep every sentence vivid." for i in range(24))
CHAT = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def question(run: str, i: int) -> str:
    return f"Write a long story about lighthouse number {i} ({run})."


async def direct_stream(
    client: httpx.AsyncClient, url: str, prompt: list[int], tokens: int
) -> tuple[float, float, int]:
    body = {"prompt": prompt, "n_predict": tokens, "stream": True, "cache_prompt": True, "temperature": 0.0}
    body |= {"return_tokens": True, "top_k": 0, "top_p": 1.0, "min_p": 0.0}
    first = last = 0.0
    output = 0
    async with client.stream("POST", f"{url}/completion", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event.get("tokens") and "prompt_progress" not in event:
                    last = time.perf_counter()
                    first = first or last
                    output += len(event["tokens"])
    return first, last, output


async def epistula_stream(client: httpx.AsyncClient, url: str, user: str, tokens: int) -> tuple[float, float, int]:
    body = {
        "model": MODEL,
        "max_tokens": tokens,
        "stream": True,
        "temperature": 0,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": user}],
    }
    first = last = 0.0
    output = 0
    async with client.stream("POST", f"{url}/v1/messages", json=body, headers=HEADERS) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["type"] == "content_block_delta":
                    last = time.perf_counter()
                    first = first or last
                elif event["type"] == "message_delta":
                    output = int(event["usage"]["output_tokens"])
    return first, last, output


def summary(start: float, results: list[tuple[float, float, int]]) -> dict[str, float]:
    total = sum(r[2] for r in results)
    span = max(r[1] for r in results) - start
    return {
        "tokens": total,
        "tokens_per_s": round(total / span, 1),
        "ttft_median_s": round(statistics.median(r[0] - start for r in results), 3),
    }


def cpu_s(pid: int) -> float:
    """User plus system CPU time of a process so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_token_ms(seconds: float, tokens: int) -> float:
    return round(1000 * seconds / max(tokens, 1), 3)


async def level(
    n: int, tokens: int, llama_url: str, epistula_url: str, run: int, pids: tuple[int, int]
) -> dict[str, object]:
    """One level; CPU per output token (noise-robust where wall clock is not) of
    llama-server on each path and of epistula on its own."""
    llama_pid, epistula_pid = pids
    vocab = load_vocab(str(default_model_path()))
    timeout = httpx.Timeout(600.0)
    limits = httpx.Limits(max_connections=n + 8)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        # Unmeasured: let n slots prefill the shared system prompt, so neither path below
        # pays for the cold cache the other one left warm.
        warm = [vocab.tokenize(CHAT.format(system=SYSTEM, user=question(f"w{run}", i)), True) for i in range(n)]
        await asyncio.gather(*(direct_stream(client, llama_url, p, 1) for p in warm))
        prompts = [vocab.tokenize(CHAT.format(system=SYSTEM, user=question(f"d{run}", i)), True) for i in range(n)]
        llama_cpu = cpu_s(llama_pid)
        start = time.perf_counter()
        direct = await asyncio.gather(*(direct_stream(client, llama_url, p, tokens) for p in prompts))
        direct_summary = summary(start, direct)
        direct_summary["llama_server_cpu_ms_per_token"] = per_token_ms(
            cpu_s(llama_pid) - llama_cpu, direct_summary["tokens"]
        )
        llama_cpu, epistula_cpu = cpu_s(llama_pid), cpu_s(epistula_pid)
        start = time.perf_counter()
        via = await asyncio.gather(
            *(epistula_stream(client, epistula_url, question(f"e{run}", i), tokens) for i in range(n))
        )
        via_summary = summary(start, via)
        produced = int(via_summary["tokens"])
        via_summary["llama_server_cpu_ms_per_token"] = per_token_ms(cpu_s(llama_pid) - llama_cpu, produced)
        via_summary["epistula_cpu_ms_per_token"] = per_token_ms(cpu_s(epistula_pid) - epistula_cpu, produced)
    ratio = via_summary["tokens_per_s"] / direct_summary["tokens_per_s"]
    return {"streams": n, "direct": direct_summary, "epistula_remote": via_summary, "ratio": round(ratio, 3)}


def routing(epistula_url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(f"{epistula_url}/metrics").text.splitlines():
        if line.startswith(
            ("epistula_upstream_routed_requests_total", "epistula_upstream_route_hit_ratio", "epistula_prompt_cache")
        ):
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0]] = float(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 16, 64], help="levels, in this order")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--binary", type=Path, default=DEFAULT_BINARY)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    args = parser.parse_args()
    slots = max(args.streams)
    port = free_port()
    command = [str(args.binary), "-m", str(default_model_path()), "--port", str(port), "-np", str(slots)]
    command += ["-c", str(slots * 1024), "-t", str(args.threads)]
    llama = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    llama_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(llama, llama_url, "llama-server")
        serve_args = ["--engine", "remote", "--upstream", llama_url, "--n-seq-max", str(slots)]
        with server(*serve_args) as (proc, epistula_url):
            pids = (llama.pid, proc.pid)
            asyncio.run(level(1, 4, llama_url, epistula_url, run=0, pids=pids))  # warm up both paths
            load_before = os.getloadavg()
            results = []
            for run, n in enumerate(args.streams, start=1):
                results.append(asyncio.run(level(n, args.tokens, llama_url, epistula_url, run=run, pids=pids)))
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # progress
            report = {
                "model": Path(default_model_path()).name,
                "tokens_per_stream": args.tokens,
                "llama_server_threads": args.threads,
                "loadavg_before": [round(x, 2) for x in load_before],
                "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                "levels": results,
                "routing": routing(epistula_url),
            }
    finally:
        llama.terminate()
        llama.wait(timeout=30)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
