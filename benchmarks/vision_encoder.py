"""How long a running stream pauses while another request's image is encoded.

    python benchmarks/vision_encoder.py [--rounds 3] [--blocks 8]

Starts ``epistula serve`` on the default model with a random-weight LLaVA-style projector
of a real encoder's size (a ViT-B/16 at 224 pixels, ``--blocks`` layers, 196 image tokens;
written with the ``gguf`` package as in ``tests/vision``), then per round: stream A
generates text (greedy, 160 tokens); once it has streamed 16 tokens, request B sends a
new image (``max_tokens`` 1). Reported per round: A's median gap between text deltas, its
longest gap while B ran, and B's latency. With the encoder inside the scheduler's step,
A's longest gap is about one encoding; with it on its own thread, A keeps streaming (its
gaps grow only by the CPU the two share).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import HEADERS, MODEL, server

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from vision.projector import build_projector, png


def stream_text(url: str, stamps: list[float], started: threading.Event) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 160,
        "temperature": 0,
        "stream": True,
        "messages": [{"role": "user", "content": "Tell a long story about a lighthouse keeper."}],
    }
    with httpx.stream("POST", f"{url}/v1/messages", headers=HEADERS, json=body, timeout=300) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"text_delta"' in line:
                stamps.append(time.perf_counter())
                if len(stamps) == 16:
                    started.set()
    started.set()


def send_image(url: str, seed: int) -> tuple[float, float]:
    data = base64.b64encode(png(224, 224, seed=seed)).decode()
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    content = [image, {"type": "text", "text": "What is this?"}]
    body = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": content}]}
    begin = time.perf_counter()
    response = httpx.post(f"{url}/v1/messages", headers=HEADERS, json=body, timeout=300)
    response.raise_for_status()
    return begin, time.perf_counter()


def one_round(url: str, seed: int) -> dict[str, float]:
    stamps: list[float] = []
    started = threading.Event()
    reader = threading.Thread(target=stream_text, args=(url, stamps, started))
    reader.start()
    started.wait()
    begin, end = send_image(url, seed)
    reader.join()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    during = [b - a for a, b in itertools.pairwise(stamps) if b >= begin and a <= end]
    return {
        "a_median_gap_ms": round(statistics.median(gaps) * 1000, 1),
        "a_longest_gap_during_b_ms": round(max(during, default=0.0) * 1000, 1),
        "b_latency_ms": round((end - begin) * 1000, 1),
        "a_tokens_during_b": len(during),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mmproj = build_projector(
            Path(tmp) / "mmproj-vitb16.gguf", width=224, patch=16, embd=768, ffn=3072, blocks=args.blocks
        )
        with server("--mmproj", str(mmproj)) as (_, url):
            send_image(url, seed=999)  # warm-up
            rounds = [one_round(url, seed) for seed in range(args.rounds)]
    print(json.dumps({"blocks": args.blocks, "rounds": rounds}, indent=2))


if __name__ == "__main__":
    main()
