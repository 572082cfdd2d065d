"""``epistula keys ...``: create, list, disable, enable and archive API keys and admin keys."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from epistula.auth.keys import DEFAULT_WORKSPACE, KeyStore, effective_status
from epistula.storage.tenancy import ApiKeyRecord, KeyKind, KeyStatus

from .options import ConfigFile, DatabaseUrl, DataDir
from .store import PAGE, format_time, key_store, list_all, print_rows

app = typer.Typer(name="keys", help="Manage API keys and admin keys.", no_args_is_help=True)

KeyArg = Annotated[str, typer.Argument(help="The key's id (apikey_...) or the key itself.", show_default=False)]


@app.command()
def create(
    name: Annotated[str, typer.Option(help="The key's name.")] = "cli",
    workspace: Annotated[str, typer.Option(help="Workspace id.")] = DEFAULT_WORKSPACE,
    admin: Annotated[
        bool, typer.Option("--admin", help="Create an Admin API key (sk-epi-admin01-...) instead of an API key.")
    ] = False,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key and print it (shown once; only its hash is stored)."""
    with key_store("keys", config, data_dir, database_url) as keys:
        kind: KeyKind = "admin" if admin else "api"
        secret, record = keys.create(name=name, workspace_id=workspace, kind=kind)
        print(secret)
        where = "the organization (Admin API)" if kind == "admin" else f"workspace {record.workspace_id}"
        print(f"created {record.id} in {where}; shown once, only its hash is stored", file=sys.stderr)


@app.command("list")
def list_keys(
    workspace: Annotated[str | None, typer.Option(help="Only keys of this workspace.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Admin keys instead of API keys.")] = False,
    status: Annotated[KeyStatus | None, typer.Option(help="Only keys in this status.")] = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List keys (id, kind, status, workspace, hint; never the key)."""
    with key_store("keys", config, data_dir, database_url) as keys:
        rows = list_all(
            lambda after: keys.list(
                limit=PAGE,
                after_id=after,
                kind="admin" if admin else "api",
                status=status,
                workspace_id=workspace,
            )
        )
        header = ("ID", "KIND", "STATUS", "WORKSPACE", "HINT", "CREATED", "NAME")
        print_rows(header, [_row(keys, r) for r in rows])


def _row(keys: KeyStore, r: ApiKeyRecord) -> tuple[str, ...]:
    status = effective_status(r, keys.clock())
    return (
        r.id,
        r.kind,
        status,
        r.workspace_id or "(organization)",
        r.partial_key_hint,
        format_time(r.created_at),
        r.name,
    )


def _set_status(key: str, status: KeyStatus, config: ConfigFile, data_dir: DataDir, database_url: DatabaseUrl) -> None:
    with key_store("keys", config, data_dir, database_url) as keys:
        updated = keys.update(keys.find(key).id, status=status, kind=None)
        print(f"{updated.id} is now {updated.status}")


@app.command()
def disable(key: KeyArg, config: ConfigFile = None, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Make a key inactive (401 from its next request)."""
    _set_status(key, "inactive", config, data_dir, database_url)


@app.command()
def enable(key: KeyArg, config: ConfigFile = None, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Make an inactive key active again."""
    _set_status(key, "active", config, data_dir, database_url)


@app.command()
def archive(key: KeyArg, config: ConfigFile = None, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Archive a key (final)."""
    _set_status(key, "archived", config, data_dir, database_url)
