"""epistula ``--engine vllm`` against vLLM's own OpenAI server: same model, same load. GPU only.

    python benchmarks/vllm_vs_vllm.py [--model HuggingFaceTB/SmolLM2-135M-Instruct]
                                      [--streams 1 16 64] [--tokens 256] [--contract]

One run does everything on a GPU machine with vLLM installed (``pip install -e '.[vllm]'``),
one server at a time so each has the GPU to itself:

1. ``vllm serve MODEL`` (prefix caching on): N concurrent streams of ``/v1/completions``
   with the token-id prompts epistula renders, temperature 0, ``ignore_eos`` so every
   stream makes ``--tokens`` tokens.
2. ``epistula serve --engine vllm --model MODEL``: N concurrent ``/v1/messages`` streams of
   the same questions (epistula cannot ignore EOS, so it is compared per token).
3. With ``--contract``: the engine contract suite on the vllm engine
   (``pytest tests/engines/test_engine_contract.py -k vllm``).

Prints JSON: tokens/s and median time to first token of each at each level, the throughput
ratio (target >= 0.98) and the TTFT ratio (target ~1.0), and the contract suite's result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import free_port, server, wait_healthy
from remote_vs_llama_server import SYSTEM, epistula_stream, question, summary

ROOT = Path(__file__).resolve().parents[1]


async def vllm_stream(
    client: httpx.AsyncClient, url: str, model: str, prompt: list[int], tokens: int
) -> tuple[float, float, int]:
    body = {
        "model": model,
        "prompt": prompt,
        "max_tokens": tokens,
        "temperature": 0.0,
        "ignore_eos": True,
        "stream": True,
        "return_token_ids": True,
    }
    first = last = 0.0
    output = 0
    async with client.stream("POST", f"{url}/v1/completions", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                choices = json.loads(line[6:]).get("choices") or []
                if choices and choices[0].get("token_ids"):
                    last = time.perf_counter()
                    first = first or last
                    output += len(choices[0]["token_ids"])
    return first, last, output


def render(model: str, n: int, run: str) -> list[list[int]]:
    """The token prompts epistula sends: the model's chat template, system then user."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    out = []
    for i in range(n):
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question(run, i)}]
        out.append(list(tokenizer.apply_chat_template(messages, add_generation_prompt=True)))
    return out


async def measure(n: int, starts: list[Coroutine[Any, Any, tuple[float, float, int]]]) -> dict[str, float]:
    start = time.perf_counter()
    return summary(start, list(await asyncio.gather(*starts)))


def vllm_levels(model: str, streams: list[int], tokens: int) -> list[dict[str, float]]:
    port = free_port()
    command = [
        "vllm",
        "serve",
        model,
        "--port",
        str(port),
        "--enable-prefix-caching",
        "--max-num-seqs",
        str(max(streams)),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, "vllm serve", timeout=900)

        async def run(n: int, tag: str) -> dict[str, float]:
            async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=n + 8)) as client:
                prompts = render(model, n, tag)
                return await measure(n, [vllm_stream(client, url, model, p, tokens) for p in prompts])

        asyncio.run(run(1, "warm"))
        return [asyncio.run(run(n, f"v{n}")) for n in streams]
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def epistula_levels(model: str, streams: list[int], tokens: int) -> list[dict[str, float]]:
    with server("--engine", "vllm", "--model", model, "--n-seq-max", str(max(streams))) as (_proc, url):

        async def run(n: int, tag: str) -> dict[str, float]:
            async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=n + 8)) as client:
                return await measure(n, [epistula_stream(client, url, question(tag, i), tokens) for i in range(n)])

        asyncio.run(run(1, "warm"))
        return [asyncio.run(run(n, f"e{n}")) for n in streams]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--contract", action="store_true")
    args = parser.parse_args()
    direct = vllm_levels(args.model, args.streams, args.tokens)
    via = epistula_levels(args.model, args.streams, args.tokens)
    levels = []
    for n, d, e in zip(args.streams, direct, via, strict=True):
        levels.append(
            {
                "streams": n,
                "vllm_openai_server": d,
                "epistula_vllm": e,
                "throughput_ratio": round(e["tokens_per_s"] / d["tokens_per_s"], 3),
                "ttft_ratio": round(e["ttft_median_s"] / d["ttft_median_s"], 3),
            }
        )
    report: dict[str, object] = {"model": args.model, "tokens_per_stream": args.tokens, "levels": levels}
    if args.contract:
        env = {**os.environ, "EPISTULA_TEST_VLLM_MODEL": args.model}
        test = ["pytest", "-q", "tests/engines/test_engine_contract.py", "-k", "vllm", "-p", "no:cacheprovider"]
        done = subprocess.run([sys.executable, "-m", *test], cwd=ROOT, env=env, capture_output=True, text=True)
        report["contract"] = {"returncode": done.returncode, "tail": done.stdout.strip().splitlines()[-3:]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
