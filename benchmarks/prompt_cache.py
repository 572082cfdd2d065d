"""Prompt caching through the epistula server: time to first token with a cached prefix,
and a replayed multi-turn agent conversation, each against the same work uncached.

    python benchmarks/prompt_cache.py [--prefix-tokens 4000] [--repeats 2] [--turns 8] [--slots 1]

Starts ``epistula serve`` as a subprocess on the default model (API version 2023-06-01,
temperature 0) and prints JSON:

* ``ttft``: a request whose system prompt (~``--prefix-tokens`` tokens) carries
  ``cache_control``. *Uncached*: the same request with a fresh nonce at the start of
  the prompt (same length, nothing to reuse), which also writes the cache. *Cached*:
  the same prefix with a different question, after an unrelated request has taken the
  only slot (``--slots 1``), so the prefix comes back from the KV snapshot store rather
  than from the slot's leftover cells. Medians of ``--repeats`` runs and their ratio.
* ``conversation``: a recorded agent conversation (system prompt + growing history of
  tool calls and results, ``cache_control`` on the last block as Claude Code does) is
  replayed turn by turn, once with caching and once uncached (a nonce per request
  defeats both breakpoint caching and automatic prefix reuse). Total prefilled prompt
  tokens (``/metrics`` counter when available, else from ``usage``), the usage split,
  and wall time of each replay, with ratios.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import statistics
import time
from typing import Any

import httpx
from common import HEADERS, MODEL, server

CC = {"type": "ephemeral"}
SENTENCE = "Keep answers short, cite the file you read, and never run destructive commands without asking. "


def stream(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """One streamed request: time to first token, total time, usage from ``message_start``."""
    body = {"model": MODEL, "stream": True, "temperature": 0, **body}
    start = time.perf_counter()
    first = 0.0
    usage: dict[str, Any] = {}
    with client.stream("POST", f"{url}/v1/messages", json=body, headers=HEADERS) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "message_start":
                usage = event["message"]["usage"]
            elif event["type"] == "content_block_delta" and not first:
                first = time.perf_counter()
    end = time.perf_counter()
    return {"ttft": (first or end) - start, "total": end - start, "usage": usage}


def count(client: httpx.Client, url: str, body: dict[str, Any]) -> int:
    body = {k: v for k, v in body.items() if k not in ("max_tokens", "stream", "temperature")}
    r = client.post(f"{url}/v1/messages/count_tokens", json={"model": MODEL, **body}, headers=HEADERS)
    r.raise_for_status()
    return int(r.json()["input_tokens"])


def prefilled_counter(client: httpx.Client, url: str) -> float | None:
    """``epistula_prompt_tokens_prefilled`` from ``/metrics`` (None when not served)."""
    try:
        r = client.get(f"{url}/metrics")
    except httpx.HTTPError:
        return None
    match = re.search(r"^epistula_prompt_tokens_prefilled(?:_total)?\{[^}]*\} ([0-9.e+]+)$", r.text, re.M)
    return float(match.group(1)) if r.status_code == 200 and match else None


def document(client: httpx.Client, url: str, tokens: int) -> str:
    """Text of about ``tokens`` tokens in the model's tokenizer (measured, then trimmed)."""
    text = SENTENCE * (tokens // 15 + 1)
    while True:
        n = count(client, url, {"system": text, "messages": [{"role": "user", "content": "x"}]})
        if n <= tokens:
            return text
        text = text[: int(len(text) * tokens / n * 0.995)]


def wipe(client: httpx.Client, url: str) -> None:
    """An unrelated request: with one slot it replaces the slot's cached cells."""
    stream(client, url, {"max_tokens": 1, "messages": [{"role": "user", "content": f"Hi {secrets.token_hex(2)}"}]})


def bench_ttft(client: httpx.Client, url: str, prefix_tokens: int, repeats: int) -> dict[str, Any]:
    doc = document(client, url, prefix_tokens)
    uncached: list[float] = []
    cached: list[float] = []
    usages: list[dict[str, Any]] = []
    for i in range(repeats):
        nonce = f"[session {secrets.token_hex(4)}] "
        system = [{"type": "text", "text": nonce + doc, "cache_control": CC}]
        ask = {"max_tokens": 8, "system": system}
        write = stream(
            client, url, {**ask, "messages": [{"role": "user", "content": f"Question {i}: what is rule one?"}]}
        )
        uncached.append(write["ttft"])
        wipe(client, url)
        read = stream(client, url, {**ask, "messages": [{"role": "user", "content": f"Question {i}: and rule two?"}]})
        cached.append(read["ttft"])
        usages.append({"write": write["usage"], "read": read["usage"]})
    u, c = statistics.median(uncached), statistics.median(cached)
    return {
        "prefix_tokens": usages[0]["write"].get("cache_creation_input_tokens"),
        "uncached_ttft_s": round(u, 3),
        "cached_ttft_s": round(c, 3),
        "speedup": round(u / c, 1),
        "runs": {"uncached": [round(x, 3) for x in uncached], "cached": [round(x, 3) for x in cached]},
        "usage_last_run": usages[-1],
    }


def conversation(turns: int) -> list[tuple[str, str]]:
    """A recorded agent session: (user or tool-result text, assistant reply) per turn."""
    files = ["main.py", "utils.py", "README.md", "tests/test_main.py", "setup.cfg", "notes.txt", "Makefile", "app.py"]
    out: list[tuple[str, str]] = [
        (
            "Find out why the tests fail and fix it.",
            'I will look at the repository first.\n<tool_call>\n{"name": "Bash", '
            '"arguments": {"command": "ls -R"}}\n</tool_call>',
        )
    ]
    for i in range(1, turns):
        name = files[i % len(files)]
        body = "\n".join(f"{n:4d}  def step_{i}_{n}(x):  return x * {n} + {i}  # {name}" for n in range(12))
        result = f"<tool_response>\n{body}\n</tool_response>"
        reply = (
            f"{name} looks fine up to line 12. Next I read {files[(i + 1) % len(files)]}.\n<tool_call>\n"
            f'{{"name": "Read", "arguments": {{"file_path": "{files[(i + 1) % len(files)]}"}}}}\n</tool_call>'
        )
        out.append((result, reply))
    return out


def replay(client: httpx.Client, url: str, system_text: str, turns: int, cached: bool) -> dict[str, Any]:
    script = conversation(turns)
    before = prefilled_counter(client, url)
    prompt_total = creation = read = uncached_input = 0
    started = time.perf_counter()
    for k in range(turns):
        messages: list[dict[str, Any]] = []
        for user_text, reply in script[:k]:
            messages += [
                {"role": "user", "content": [{"type": "text", "text": user_text}]},
                {"role": "assistant", "content": reply},
            ]
        messages.append({"role": "user", "content": [{"type": "text", "text": script[k][0]}]})
        system: list[dict[str, Any]]
        if cached:
            system = [{"type": "text", "text": system_text, "cache_control": CC}]
            messages[-1]["content"][-1]["cache_control"] = CC
        else:
            system = [{"type": "text", "text": f"[request {secrets.token_hex(4)}] " + system_text}]
        result = stream(client, url, {"max_tokens": 4, "system": system, "messages": messages})
        usage = result["usage"]
        prompt_total += usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
        creation += usage["cache_creation_input_tokens"]
        read += usage["cache_read_input_tokens"]
        uncached_input += usage["input_tokens"]
    wall = time.perf_counter() - started
    after = prefilled_counter(client, url)
    prefilled = after - before if before is not None and after is not None else float(uncached_input + creation)
    return {
        "wall_s": round(wall, 2),
        "prompt_tokens": prompt_total,
        "prefilled_tokens": int(prefilled),
        "prefilled_source": "metrics" if before is not None and after is not None else "usage",
        "usage": {
            "input_tokens": uncached_input,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix-tokens", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--system-tokens", type=int, default=1500)
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument("--skip", choices=["ttft", "conversation"], nargs="*", default=[])
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with server(env={"EPISTULA_N_SEQ_MAX": str(args.slots)}) as (_, url), httpx.Client(timeout=1800) as client:
        stream(client, url, {"max_tokens": 2, "messages": [{"role": "user", "content": "warm up"}]})
        if "ttft" not in args.skip:
            report["ttft"] = bench_ttft(client, url, args.prefix_tokens, args.repeats)
        if "conversation" not in args.skip:
            system_text = document(client, url, args.system_tokens)
            uncached = replay(client, url, system_text, args.turns, cached=False)
            wipe(client, url)
            cached = replay(client, url, system_text, args.turns, cached=True)
            report["conversation"] = {
                "turns": args.turns,
                "uncached": uncached,
                "cached": cached,
                "prefill_ratio": round(uncached["prefilled_tokens"] / max(cached["prefilled_tokens"], 1), 2),
                "wall_ratio": round(uncached["wall_s"] / cached["wall_s"], 2),
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
