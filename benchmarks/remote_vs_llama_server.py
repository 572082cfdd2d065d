"""epistula ``--engine remote`` in front of llama-server, against llama-server used directly.

    python benchmarks/remote_vs_llama_server.py [--streams 1 16 64] [--tokens 64] [--rounds 4]

Starts llama-server on the default model (one slot per stream of the largest level,
``--metrics``) and ``epistula serve --engine remote --upstream`` it. For each level N it
runs, ``--rounds`` times, N concurrent streams straight to llama-server's ``/completion``
(the same token prompt epistula sends) and N through epistula's ``/v1/messages`` (SSE,
temperature 0), the order of the two alternating from round to round; every stream has its
own question after one long shared system prompt (before each round, N unmeasured streams
put that prompt in N slots' caches, so both paths find it there). It prints JSON: for each
path the medians of aggregate output tokens/s (tokens over the span from the first request
to the last token), time to first token, CPU per output token of llama-server and of
epistula (robust where wall clock is not, on a shared machine), the part of llama-server's
spent outside its main (decoding) thread, llama-server's decode calls and evaluated prompt
tokens per run; the median of the rounds' ratios (the target is
>= 0.95), the load average around the run, and epistula's prefix-routing counters from
``/metrics``.
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
    # llama-server closes the connection after every streamed answer: say so, so that httpx
    # never reuses one it is closing ("Server disconnected without sending a response").
    headers = {"Connection": "close"}
    async with client.stream("POST", f"{url}/completion", json=body, headers=headers) as response:
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


def cpu_s(pid: int, tid: int | None = None) -> float:
    """User plus system CPU time of a process (or of its thread ``tid``) so far (``/proc``)."""
    with open(f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_token_ms(seconds: float, tokens: float) -> float:
    return round(1000 * seconds / max(tokens, 1), 3)


def llama_counters(client_url: str) -> dict[str, float]:
    """llama-server's own counters (``--metrics``): decode calls and prompt tokens it evaluated."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{client_url}/metrics").text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("llamacpp:n_decode_total", "llamacpp:prompt_tokens_total"):
            out[name.split(":")[1]] = float(value)
    return out


async def measure(
    path: str,
    client: httpx.AsyncClient,
    prompts: list[tuple[str, list[int]]],
    tokens: int,
    urls: tuple[str, str],
    pids: tuple[int, int],
) -> dict[str, float]:
    """One run of ``len(prompts)`` concurrent streams on one path, with the CPU each process
    spent per output token (noise-robust where wall clock is not) and llama-server's
    decode calls and evaluated prompt tokens (fuller batches: fewer decodes per token)."""
    llama_url, epistula_url = urls
    before = llama_counters(llama_url)
    llama_cpu, epistula_cpu, main_cpu = cpu_s(pids[0]), cpu_s(pids[1]), cpu_s(pids[0], pids[0])
    start = time.perf_counter()
    if path == "direct":
        streams = [direct_stream(client, llama_url, ids, tokens) for _, ids in prompts]
    else:
        streams = [epistula_stream(client, epistula_url, user, tokens) for user, _ in prompts]
    result = summary(start, await asyncio.gather(*streams))
    after = llama_counters(llama_url)
    produced = result["tokens"]
    result["llama_server_cpu_ms_per_token"] = per_token_ms(cpu_s(pids[0]) - llama_cpu, produced)
    # Its main thread decodes and samples (one thread, ``-t 1`` on two cores); the others
    # are its HTTP threads (parsing bodies, writing every token's event).
    main = per_token_ms(cpu_s(pids[0], pids[0]) - main_cpu, produced)
    result["llama_server_http_threads_cpu_ms_per_token"] = round(result["llama_server_cpu_ms_per_token"] - main, 3)
    if path != "direct":
        result["epistula_cpu_ms_per_token"] = per_token_ms(cpu_s(pids[1]) - epistula_cpu, produced)
    result["llama_server_decodes"] = after["n_decode_total"] - before["n_decode_total"]
    result["llama_server_prompt_tokens"] = after["prompt_tokens_total"] - before["prompt_tokens_total"]
    return result


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}


async def level(
    n: int, tokens: int, urls: tuple[str, str], rounds: int, pids: tuple[int, int], tag: int
) -> dict[str, object]:
    """``rounds`` runs of each path at ``n`` streams, the order alternating, each run with
    questions of its own; medians, and the median of each round's ratio."""
    vocab = load_vocab(str(default_model_path()))

    def prompts(prefix: str) -> list[tuple[str, list[int]]]:
        users = [question(prefix, i) for i in range(n)]
        return [(user, vocab.tokenize(CHAT.format(system=SYSTEM, user=user), True)) for user in users]

    runs: dict[str, list[dict[str, float]]] = {"direct": [], "epistula": []}
    ratios = []
    timeout = httpx.Timeout(600.0)
    async with httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=n + 8)) as client:
        for r in range(rounds):
            # Unmeasured: n slots prefill the shared system prompt, so neither path pays
            # for the cold cache the other one left warm.
            warm = prompts(f"w{tag}{r}")
            await asyncio.gather(*(direct_stream(client, urls[0], ids, 1) for _, ids in warm))
            for path in ("direct", "epistula") if r % 2 == 0 else ("epistula", "direct"):
                runs[path].append(await measure(path, client, prompts(f"{path[0]}{tag}{r}"), tokens, urls, pids))
            ratios.append(runs["epistula"][-1]["tokens_per_s"] / runs["direct"][-1]["tokens_per_s"])
    return {
        "streams": n,
        "direct": medians(runs["direct"]),
        "epistula_remote": medians(runs["epistula"]),
        "ratio": round(statistics.median(ratios), 3),
        "ratios": [round(x, 3) for x in ratios],
    }


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
    parser.add_argument("--rounds", type=int, default=4, help="runs of each path per level, alternating")
    args = parser.parse_args()
    slots = max(args.streams)
    port = free_port()
    command = [str(args.binary), "-m", str(default_model_path()), "--port", str(port), "-np", str(slots)]
    command += ["-c", str(slots * 1024), "-t", str(args.threads), "--metrics"]
    llama = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    llama_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(llama, llama_url, "llama-server")
        serve_args = ["--engine", "remote", "--upstream", llama_url, "--n-seq-max", str(slots)]
        with server(*serve_args) as (proc, epistula_url):
            pids = (llama.pid, proc.pid)
            urls = (llama_url, epistula_url)
            asyncio.run(level(1, 4, urls, rounds=1, pids=pids, tag=0))  # warm up both paths
            load_before = os.getloadavg()
            results = []
            for tag, n in enumerate(args.streams, start=1):
                results.append(asyncio.run(level(n, args.tokens, urls, rounds=args.rounds, pids=pids, tag=tag)))
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # progress
            report = {
                "model": Path(default_model_path()).name,
                "tokens_per_stream": args.tokens,
                "llama_server_threads": args.threads,
                "rounds": args.rounds,
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
