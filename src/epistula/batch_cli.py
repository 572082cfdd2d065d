"""``epistula batch``: submit a JSONL file of requests to a running server, watch it,
fetch its results, cancel it. A plain HTTP client (httpx), so it works against any
server that speaks the Message Batches API.

    epistula batch submit requests.jsonl --wait -o results.jsonl
    epistula batch status msgbatch_...
    epistula batch results msgbatch_... [-o FILE]
    epistula batch cancel msgbatch_...

Each input line is ``{"custom_id": "...", "params": {<Messages request>}}``. The server
and key come from ``--base-url``/``--api-key`` or ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

import httpx

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
API_VERSION = "2023-06-01"
PROGRESS_HEADER = "x-epistula-batch-progress"
BAR_WIDTH = 30


class CliError(Exception):
    """A failure to report on one line and exit non-zero."""


def register_batch_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("batch", help="submit and manage Message Batches on a running server")
    _connection_options(p, default=None)
    # the same options are accepted after the action too (`epistula batch status ID --base-url ...`)
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, default=argparse.SUPPRESS)
    actions = p.add_subparsers(dest="batch_action", required=True)
    submit = actions.add_parser("submit", parents=[common], help="create a batch from a JSONL file")
    submit.add_argument("file", type=Path, help="JSONL: one {custom_id, params} object per line")
    submit.add_argument("--wait", action="store_true", help="show progress until it ends, then write the results")
    submit.add_argument("-o", "--output", type=Path, help="results file (default: stdout)")
    submit.add_argument("--poll", type=float, default=1.0, help="seconds between status checks (default 1)")
    status = actions.add_parser("status", parents=[common], help="show a batch")
    status.add_argument("batch_id")
    results = actions.add_parser("results", parents=[common], help="write a finished batch's results (JSONL)")
    results.add_argument("batch_id")
    results.add_argument("-o", "--output", type=Path, help="results file (default: stdout)")
    cancel = actions.add_parser("cancel", parents=[common], help="cancel a batch")
    cancel.add_argument("batch_id")


def _connection_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "--base-url", default=default, help=f"server URL (default ANTHROPIC_BASE_URL or {DEFAULT_BASE_URL})"
    )
    parser.add_argument("--api-key", default=default, help="API key (default ANTHROPIC_API_KEY)")


def run_batch_command(args: argparse.Namespace) -> None:
    try:
        with _client(args) as client:
            if args.batch_action == "submit":
                _submit(client, args)
            elif args.batch_action == "status":
                _print_json(_check(client.get(f"/v1/messages/batches/{args.batch_id}")).json())
            elif args.batch_action == "results":
                _write_results(client, args.batch_id, args.output)
            elif args.batch_action == "cancel":
                _print_json(_check(client.post(f"/v1/messages/batches/{args.batch_id}/cancel")).json())
    except CliError as exc:
        sys.stderr.write(f"epistula batch: {exc}\n")
        sys.exit(1)
    except httpx.HTTPError as exc:
        sys.stderr.write(f"epistula batch: cannot reach the server: {exc}\n")
        sys.exit(1)


def _client(args: argparse.Namespace) -> httpx.Client:
    base_url = args.base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
    api_key = args.api_key or os.environ.get("ANTHROPIC_API_KEY")
    if not api_key:
        raise CliError("no API key: pass --api-key or set ANTHROPIC_API_KEY")
    headers = {"x-api-key": api_key, "anthropic-version": API_VERSION}
    return httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=httpx.Timeout(60.0, connect=10.0))


def _check(resp: httpx.Response) -> httpx.Response:
    if resp.is_success:
        return resp
    try:
        error = resp.json()["error"]
        detail = f"{error['type']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        detail = resp.text[:200]
    raise CliError(f"HTTP {resp.status_code}: {detail}")


def _print_json(value: Any) -> None:
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


def _submit(client: httpx.Client, args: argparse.Namespace) -> None:
    requests = read_requests(args.file)
    batch = _check(client.post("/v1/messages/batches", json={"requests": requests})).json()
    sys.stderr.write(f"submitted {batch['id']} ({len(requests)} requests)\n")
    if not args.wait:
        sys.stdout.write(batch["id"] + "\n")
        return
    batch = _wait(client, batch["id"], args.poll)
    counts = batch["request_counts"]
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    sys.stderr.write(f"{batch['id']} ended: {summary}\n")
    _write_results(client, batch["id"], args.output)


def _wait(client: httpx.Client, batch_id: str, poll: float) -> dict[str, Any]:
    """Poll until the batch ends, drawing a bar from the server's progress header (the
    request counts themselves only move when the whole batch ends)."""
    tty = sys.stderr.isatty()
    last = ""
    while True:
        resp = _check(client.get(f"/v1/messages/batches/{batch_id}"))
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


def _write_results(client: httpx.Client, batch_id: str, output: Path | None) -> None:
    target: AbstractContextManager[IO[bytes]] = output.open("wb") if output else nullcontext(sys.stdout.buffer)
    with client.stream("GET", f"/v1/messages/batches/{batch_id}/results") as resp:
        if not resp.is_success:
            resp.read()
            _check(resp)
        with target as out:
            for chunk in resp.iter_bytes():
                out.write(chunk)
            out.flush()
    if output:
        sys.stderr.write(f"results written to {output}\n")
