"""``epistula workspaces ...``: create, list and archive workspaces."""

from __future__ import annotations

from typing import Annotated

import typer

from epistula.storage.tenancy import WorkspaceRecord

from .options import ConfigFile, DatabaseUrl, DataDir
from .store import PAGE, format_time, key_store, list_all, print_rows

app = typer.Typer(name="workspaces", help="Manage workspaces.", no_args_is_help=True)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The workspace's name.", show_default=False)],
    display_color: Annotated[str | None, typer.Option(help="Its color in the console, #RRGGBB.")] = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a workspace and print its id."""
    with key_store("workspaces", config, data_dir, database_url) as keys:
        print(keys.workspaces.create(name, display_color=display_color).id)


@app.command("list")
def list_workspaces(
    include_archived: Annotated[bool, typer.Option("--all", help="Include archived workspaces.")] = False,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List workspaces (the default one included)."""
    with key_store("workspaces", config, data_dir, database_url) as keys:
        rows = list_all(
            lambda after: keys.workspaces.list(
                limit=PAGE, after_id=after, include_archived=include_archived, include_default=True
            )
        )
        print_rows(("ID", "STATUS", "CREATED", "NAME"), [_row(r) for r in rows])


def _row(r: WorkspaceRecord) -> tuple[str, ...]:
    return (r.id, "archived" if r.archived_at else "active", format_time(r.created_at), r.name)


@app.command()
def archive(
    workspace: Annotated[str, typer.Argument(help="The workspace's id (wrkspc_...).", show_default=False)],
    config: ConfigFile = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Archive a workspace (its keys stop working)."""
    with key_store("workspaces", config, data_dir, database_url) as keys:
        record = keys.workspaces.archive(workspace)
        print(f"{record.id} archived; its keys no longer work")
