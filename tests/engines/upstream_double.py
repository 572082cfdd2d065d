"""An upstream double: replays recorded llama-server traffic over a real socket.

``recordings/llama_server.json`` holds real exchanges with llama-server (written by
``record_llama_server.py``): request bodies and every SSE line of the answers. The double
answers ``POST /completion`` with the exchange whose request body equals the one received
(else the ``default`` exchange), line by line, and ``/health``, ``/props`` and ``/tokenize``
as recorded. With ``dialect="openai"`` it serves ``/v1/completions``, ``/v1/models`` and
``/tokenize`` in vLLM's shapes instead: the same recorded tokens, re-framed as vLLM's
``CompletionStreamResponse`` chunks (``token_ids`` per chunk, continuous usage with
``prompt_tokens_details.cached_tokens``, ``data: [DONE]``). Those are constructed from
vLLM's protocol definitions, since no vLLM server could be run where they were made.

Faults, set through :attr:`UpstreamDouble.fault`: ``down`` (503 everywhere), ``drop`` (close
the connection after ``after`` lines), ``stall`` (go silent after ``after`` lines),
``error500`` (a 500 before any line), ``mismatch`` (a tokenizer that cuts the probe
differently).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from live import serve_in_thread

RECORDINGS = Path(__file__).with_name("recordings") / "llama_server.json"
Fault = Literal["", "down", "drop", "stall", "error500", "mismatch"]


def load_recordings() -> dict[str, Any]:
    return dict(json.loads(RECORDINGS.read_text()))


def exchange(name: str) -> dict[str, Any]:
    return next(e for e in load_recordings()["exchanges"] if e["name"] == name)


def recorded_tokens(name: str) -> list[int]:
    """The sampled token ids of a recorded exchange (progress events' placeholders excluded)."""
    ids: list[int] = []
    for line in exchange(name)["lines"]:
        if line.startswith("data:"):
            event = json.loads(line[5:])
            if "prompt_progress" not in event:
                ids.extend(event.get("tokens", []))
    return ids


@dataclass
class UpstreamDouble:
    dialect: Literal["llama", "openai"] = "llama"
    default: str = "limit"
    fault: Fault = ""
    after: int = 3
    """Lines sent before a ``drop`` or ``stall``."""
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every generation request body, in order."""
    url: str = ""
    _data: dict[str, Any] = field(default_factory=load_recordings)
    _server: uvicorn.Server | None = None

    # -- routes -------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/health", self.health, methods=["GET"]),
                Route("/props", self.props, methods=["GET"]),
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/tokenize", self.tokenize, methods=["POST"]),
                Route("/completion", self.completion, methods=["POST"]),
                Route("/v1/completions", self.completion, methods=["POST"]),
            ]
        )

    def _unavailable(self) -> Response:
        error = {"code": 503, "message": "Loading model", "type": "unavailable_error"}
        return JSONResponse({"error": error}, status_code=503)

    async def health(self, request: Request) -> Response:
        if self.fault == "down":
            return self._unavailable()
        return JSONResponse(self._data["health"]) if self.dialect == "llama" else Response(status_code=200)

    async def props(self, request: Request) -> Response:
        return JSONResponse(self._data["props"])

    async def models(self, request: Request) -> Response:
        window = self._data["props"]["default_generation_settings"]["n_ctx"]
        return JSONResponse({"object": "list", "data": [{"id": "smollm2", "object": "model", "max_model_len": window}]})

    async def tokenize(self, request: Request) -> Response:
        if self.fault == "down":
            return self._unavailable()
        tokens = list(self._data["tokenize"]["response"]["tokens"])
        if self.fault == "mismatch":
            tokens[5:7] = [tokens[5] + 1]
        if self.dialect == "openai":
            return JSONResponse({"tokens": tokens, "count": len(tokens), "max_model_len": 8192})
        return JSONResponse({"tokens": tokens})

    async def completion(self, request: Request) -> Response:
        body = await request.json()
        self.received.append(body)
        if self.fault in ("down", "error500"):
            return self._unavailable() if self.fault == "down" else JSONResponse({"error": "boom"}, status_code=500)
        recorded = self._match(body)
        if recorded["status"] != 200:
            return Response(recorded["lines"][0], status_code=recorded["status"], media_type="application/json")
        lines = recorded["lines"] if self.dialect == "llama" else vllm_lines(recorded["lines"])
        return StreamingResponse(self._replay(lines), media_type="text/event-stream")

    def _match(self, body: dict[str, Any]) -> dict[str, Any]:
        exchanges = self._data["exchanges"]
        if self.dialect == "llama":
            for recorded in exchanges:
                if recorded["request"] == body:
                    return dict(recorded)
        return dict(next(e for e in exchanges if e["name"] == self.default))

    async def _replay(self, lines: list[str]) -> AsyncIterator[bytes]:
        for sent, line in enumerate(lines):
            if self.fault in ("drop", "stall") and sent >= self.after:
                if self.fault == "stall":
                    await asyncio.sleep(3600)
                raise ConnectionResetError("upstream double: dropped mid-stream")
            yield (line + "\n\n").encode()
            await asyncio.sleep(0)

    # -- lifecycle ------------------------------------------------------------

    def reset(
        self, dialect: Literal["llama", "openai"] = "llama", default: str = "limit", fault: Fault = "", after: int = 3
    ) -> None:
        self.dialect, self.default, self.fault, self.after = dialect, default, fault, after
        self.received = []

    def start(self) -> UpstreamDouble:
        server, _thread, self.url = serve_in_thread(self.app())
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            self._server = None

    @property
    def spec(self) -> str:
        """The ``--upstream`` value for this double."""
        return self.url if self.dialect == "llama" else f"vllm+{self.url}"


def vllm_lines(llama_lines: list[str]) -> list[str]:
    """A recorded llama-server stream in vLLM's ``/v1/completions`` framing (same tokens)."""
    events = [json.loads(line[5:]) for line in llama_lines if line.startswith("data:")]
    tokens = [e for e in events if "prompt_progress" not in e]
    final = tokens[-1]
    prompt = int(final["tokens_evaluated"])
    cached = int(final["timings"]["cache_n"])
    created = int(time.time())
    out: list[str] = []
    produced = 0

    def chunk(choices: list[dict[str, Any]]) -> str:
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": produced,
            "total_tokens": prompt + produced,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        payload = {
            "id": "cmpl-double",
            "object": "text_completion",
            "created": created,
            "model": "smollm2",
            "choices": choices,
            "usage": usage,
        }
        return "data: " + json.dumps(payload)

    for event in tokens[:-1]:
        produced += len(event["tokens"])
        out.append(chunk([{"index": 0, "text": event["content"], "token_ids": event["tokens"], "finish_reason": None}]))
    reason = "length" if final.get("stop_type") == "limit" else "stop"
    out.append(chunk([{"index": 0, "text": "", "token_ids": [], "finish_reason": reason, "stop_reason": None}]))
    out.append(chunk([]))
    out.append("data: [DONE]")
    return out


_POOL: list[UpstreamDouble] = []


@contextmanager
def doubles(*configs: dict[str, Any]) -> Iterator[list[UpstreamDouble]]:
    """One double per config (``UpstreamDouble`` keyword arguments), freshly configured.

    The servers are started once per test process and reused (a start costs ~1 s here):
    each use resets a double's dialect, default, fault and received requests."""
    while len(_POOL) < len(configs):
        _POOL.append(UpstreamDouble().start())
    used = _POOL[: len(configs)]
    for double, config in zip(used, configs, strict=True):
        double.reset(**config)
    try:
        yield used
    finally:
        for double in used:
            double.fault = ""
