"""``epistula batch``: submit a JSONL file of requests to a running server, watch it,
fetch its results, cancel it.

    epistula batch submit requests.jsonl --wait -o results.jsonl
    epistula batch status msgbatch_...
    epistula batch results msgbatch_... [-o FILE]
    epistula batch cancel msgbatch_...

The server and key come from ``--base-url``/``--api-key`` (before or after the action)
or ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import httpx
import typer

from .batch_client import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    CliError,
    check,
    connect,
    print_json,
    submit,
    write_results,
)
from .options import documented

app = typer.Typer(name="batch", help="Submit and manage Message Batches on a running server.", no_args_is_help=True)

BaseUrl = Annotated[
    str | None, typer.Option(help=documented("The server's URL.", BASE_URL_ENV, DEFAULT_BASE_URL), show_default=False)
]
ApiKey = Annotated[str | None, typer.Option(help=documented("API key.", API_KEY_ENV), show_default=False)]
BatchId = Annotated[str, typer.Argument(help="The batch's id (msgbatch_...).", show_default=False)]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Results file (default: stdout).", show_default=False)
]


@app.callback()
def connection(base_url: BaseUrl = None, api_key: ApiKey = None) -> None:
    """Submit and manage Message Batches on a running server (the Message Batches API over HTTP)."""


@contextmanager
def _client(ctx: typer.Context, base_url: str | None, api_key: str | None) -> Iterator[httpx.Client]:
    """A client with the action's connection options, else the group's; a failure prints
    ``epistula batch: ...`` and exits 1."""
    group = ctx.parent.params if ctx.parent else {}
    try:
        with connect(base_url or group.get("base_url"), api_key or group.get("api_key")) as client:
            yield client
    except CliError as exc:
        sys.stderr.write(f"epistula batch: {exc}\n")
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        sys.stderr.write(f"epistula batch: cannot reach the server: {exc}\n")
        raise typer.Exit(1) from None


@app.command("submit")
def submit_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL: one {custom_id, params} object per line.", show_default=False)],
    wait: Annotated[bool, typer.Option("--wait", help="Show progress until it ends, then write the results.")] = False,
    output: Output = None,
    poll: Annotated[float, typer.Option(help="Seconds between status checks while waiting.")] = 1.0,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Create a batch from a JSONL file.

    Prints the batch's id; with --wait, shows its progress until it ends and writes its results."""
    with _client(ctx, base_url, api_key) as client:
        submit(client, file, wait=wait, output=output, poll=poll)


@app.command()
def status(ctx: typer.Context, batch_id: BatchId, base_url: BaseUrl = None, api_key: ApiKey = None) -> None:
    """Show a batch (JSON)."""
    with _client(ctx, base_url, api_key) as client:
        print_json(check(client.get(f"/v1/messages/batches/{batch_id}")).json())


@app.command()
def results(
    ctx: typer.Context, batch_id: BatchId, output: Output = None, base_url: BaseUrl = None, api_key: ApiKey = None
) -> None:
    """Write a finished batch's results (JSONL)."""
    with _client(ctx, base_url, api_key) as client:
        write_results(client, batch_id, output)


@app.command()
def cancel(ctx: typer.Context, batch_id: BatchId, base_url: BaseUrl = None, api_key: ApiKey = None) -> None:
    """Cancel a batch (prints it, JSON)."""
    with _client(ctx, base_url, api_key) as client:
        print_json(check(client.post(f"/v1/messages/batches/{batch_id}/cancel")).json())
