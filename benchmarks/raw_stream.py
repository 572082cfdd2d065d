"""The benchmarks' load generator (:mod:`concurrency`, :mod:`vs_llama_server`): N streaming
``POST /v1/messages`` over raw HTTP/1.1 connections on one asyncio loop, no HTTP library
and no SDK, timed from the first byte written. It splits the byte stream on blank lines
and only looks at each frame's ``event:`` name; just the ``message_delta`` frame is
JSON-decoded (for ``usage.output_tokens``).

It runs in a process of its own (:func:`run_clients` starts this file as a script), so
that it competes with the server it measures no more than a real client would."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from common import KEY, MODEL

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle. Story {i}."
"""Makes SmolLM2 write long, so every stream runs to ``max_tokens``."""


class Chunked:
    """Incremental decoder of an HTTP/1.1 body (chunked, or raw until close)."""

    def __init__(self, chunked: bool) -> None:
        self.chunked = chunked
        self.raw = b""
        self.need = -1  # bytes left in the current chunk; -1: expecting a size line

    def feed(self, data: bytes) -> bytes:
        if not self.chunked:
            return data
        self.raw += data
        out = bytearray()
        while True:
            if self.need < 0:
                end = self.raw.find(b"\r\n")
                if end < 0:
                    break
                line = self.raw[:end].split(b";")[0].strip()
                self.raw = self.raw[end + 2 :]
                if not line:
                    continue  # the CRLF that ends a chunk's data
                self.need = int(line, 16)
                if self.need == 0:
                    break
            take = self.raw[: self.need]
            out += take
            self.raw = self.raw[len(take) :]
            self.need -= len(take)
            if self.need:
                break
            self.need = -1
        return bytes(out)


async def one_stream(host: str, port: int, tokens: int, i: int) -> dict[str, Any]:
    """Story ``i`` (:data:`PROMPT`), greedy, ``tokens`` long; returns when each delta arrived
    (``stamps``, the first as ``first``), the usage's ``output_tokens`` and ``error`` (empty
    when the stream ended well)."""
    body = json.dumps(
        {
            "model": MODEL,
            "max_tokens": tokens,
            "stream": True,
            "temperature": 0,
            "messages": [{"role": "user", "content": PROMPT.format(i=i)}],
        }
    ).encode()
    head = (
        f"POST /v1/messages HTTP/1.1\r\nhost: {host}:{port}\r\nx-api-key: {KEY}\r\nconnection: close\r\n"
        f"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(host, port)
    sent = time.perf_counter()
    writer.write(head + body)
    stamps: list[float] = []
    output_tokens = 0
    status = b""
    error = ""
    buf = b""
    decoder: Chunked | None = None
    try:
        while chunk := await reader.read(65536):
            now = time.perf_counter()
            if decoder is None:
                buf += chunk
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                headers = buf[:end].lower()
                status = buf[: buf.find(b"\r\n")]
                decoder = Chunked(b"transfer-encoding: chunked" in headers)
                chunk, buf = buf[end + 4 :], b""
            buf += decoder.feed(chunk)
            *frames, buf = buf.replace(b"\r\n", b"\n").split(b"\n\n")
            for frame in frames:
                if frame.startswith(b"event: content_block_delta"):
                    stamps.append(now)
                elif frame.startswith(b"event: message_delta"):
                    output_tokens = json.loads(frame.split(b"\ndata: ", 1)[1])["usage"]["output_tokens"]
                elif frame.startswith(b"event: error"):
                    error = frame.decode()
    finally:
        writer.close()
    done = time.perf_counter()
    if not status.endswith(b" 200 OK") or error:
        error = error or (status + buf[:300]).decode(errors="replace")
    first = stamps[0] if stamps else 0.0
    return {
        "sent": sent,
        "first": first,
        "done": done,
        "stamps": stamps,
        "output_tokens": output_tokens,
        "error": error,
    }


async def load(host: str, port: int, n: int, tokens: int, tag: int) -> dict[str, Any]:
    """A warm-up stream, then ``n`` at once; the streams and this process's CPU seconds."""
    await one_stream(host, port, 4, -1)  # warm-up: connection paths, first graphs
    cpu = time.process_time()
    streams = await asyncio.gather(*(one_stream(host, port, tokens, tag * 100 + i) for i in range(n)))
    return {"streams": list(streams), "client_cpu_s": time.process_time() - cpu}


def run_clients(url: str, n: int, tokens: int, tag: int) -> dict[str, Any]:
    """:func:`load` against ``url`` in a load-generator process of its own."""
    out = subprocess.run(
        [sys.executable, __file__, url, str(n), str(tokens), str(tag)],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


if __name__ == "__main__":
    url, n, tokens, tag = sys.argv[1:]
    host, port = url.rsplit(":", 1)
    print(json.dumps(asyncio.run(load(host.split("//")[-1], int(port), int(n), int(tokens), int(tag)))))
