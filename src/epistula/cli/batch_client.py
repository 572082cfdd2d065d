"""The HTTP side of ``epistula batch``: a plain client (httpx) of the Message Batches API,
so it works against any server that speaks it. Each input line is
``{"custom_id": "...", "params": {<Messages request>}}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

import httpx

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
API_KEY_ENV = "ANTHROPIC_API_KEY"
API_VERSION = "2023-06-01"
PROGRESS_HEADER = "x-epistula-batch-progress"
BAR_WIDTH = 30


class CliError(Exception):
    """A failure to report on one line and exit non-zero."""


def connect(base_url: str | None, api_key: str | None) -> httpx.Client:
    """A client of the server at ``base_url`` (else ``ANTHROPIC_BASE_URL``, else the local
    default) with ``api_key`` (else ``ANTHROPIC_API_KEY``)."""
    base_url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    api_key = api_key or os.environ.get(API_KEY_ENV)
    if not api_key:
        raise CliError(f"no API key: pass --api-key or set {API_KEY_ENV}")
    headers = {"x-api-key": api_key, "anthropic-version": API_VERSION}
    return httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=httpx.Timeout(60.0, connect=10.0))


def check(resp: httpx.Response) -> httpx.Response:
    if resp.is_success:
        return resp
    try:
        error = resp.json()["error"]
        detail = f"{error['type']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        detail = resp.text[:200]
    raise CliError(f"HTTP {resp.status_code}: {detail}")


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def read_requests(path: Path) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise CliError(f"{path}:{number}: expected an object with custom_id and params")
        requests.append(item)
    if not requests:
        raise CliError(f"{path}: no requests")
    return requests


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = width * done // total if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} requests"


def submit(client: httpx.Client, file: Path, *, wait: bool, output: Path | None, poll: float) -> None:
    """Create a batch from a JSONL file; print its id, or (``wait``) watch it end and write its results."""
    requests = read_requests(file)
    batch = check(client.post("/v1/messages/batches", json={"requests": requests})).json()
    sys.stderr.write(f"submitted {batch['id']} ({len(requests)} requests)\n")
    if not wait:
        sys.stdout.write(batch["id"] + "\n")
        return
    batch = _wait(client, batch["id"], poll)
    counts = batch["request_counts"]
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    sys.stderr.write(f"{batch['id']} ended: {summary}\n")
    write_results(client, batch["id"], output)


def _wait(client: httpx.Client, batch_id: str, poll: float) -> dict[str, Any]:
    """Poll until the batch ends, drawing a bar from the server's progress header (the
    request counts themselves only move when the whole batch ends)."""
    tty = sys.stderr.isatty()
    last = ""
    while True:
        resp = check(client.get(f"/v1/messages/batches/{batch_id}"))
        batch: dict[str, Any] = resp.json()
        total = sum(batch["request_counts"].values())
        done = total - batch["request_counts"]["processing"]
        if header := resp.headers.get(PROGRESS_HEADER):
            done_text, _, total_text = header.partition("/")
            if done_text.isdigit() and total_text.isdigit():
                done, total = int(done_text), int(total_text)
        bar = progress_bar(done, total)
        if bar != last:
            sys.stderr.write(("\r" + bar) if tty else (bar + "\n"))
            sys.stderr.flush()
            last = bar
        if batch["processing_status"] == "ended":
            if tty:
                sys.stderr.write("\n")
            return batch
        time.sleep(poll)


def write_results(client: httpx.Client, batch_id: str, output: Path | None) -> None:
    target: AbstractContextManager[IO[bytes]] = output.open("wb") if output else nullcontext(sys.stdout.buffer)
    with client.stream("GET", f"/v1/messages/batches/{batch_id}/results") as resp:
        if not resp.is_success:
            resp.read()
            check(resp)
        with target as out:
            for chunk in resp.iter_bytes():
                out.write(chunk)
            out.flush()
    if output:
        sys.stderr.write(f"results written to {output}\n")
