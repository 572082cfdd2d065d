"""``epistula keys ...`` and ``epistula workspaces ...``: key and workspace management on
the same database the server uses (SQLite in the data dir, or ``--database-url``), so a
key disabled here gets 401 on the next request to any running replica."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from epistula.config import load_settings
from epistula.errors import ApiError
from epistula.storage.database import open_database
from epistula.storage.tenancy import ApiKeyRecord, KeyKind, KeyStatus, WorkspaceRecord

from .bootstrap import open_key_store
from .keys import DEFAULT_WORKSPACE, KeyStore, effective_status

PAGE = 1000


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="a TOML config file (also EPISTULA_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="where state lives (also EPISTULA_DATA_DIR)")
    p.add_argument(
        "--database-url", help="postgresql://... (also EPISTULA_DATABASE_URL); default: SQLite in the data dir"
    )


def register_tenancy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="manage API keys and admin keys")
    kp = keys.add_subparsers(dest="keys_action", required=True)
    create = kp.add_parser("create", help="create a key and print it (shown once)")
    create.add_argument("--name", default="cli")
    create.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace id (default: the default workspace)")
    create.add_argument("--admin", action="store_true", help="an Admin API key (sk-epi-admin01-...)")
    _common(create)
    listing = kp.add_parser("list", help="list keys")
    listing.add_argument("--workspace", help="only keys of this workspace")
    listing.add_argument("--admin", action="store_true", help="admin keys instead of API keys")
    listing.add_argument("--status", choices=["active", "inactive", "archived", "expired"])
    _common(listing)
    for action, help_text in (
        ("disable", "make a key inactive (401 at once)"),
        ("enable", "make an inactive key active again"),
        ("archive", "archive a key (final)"),
    ):
        p = kp.add_parser(action, help=help_text)
        p.add_argument("key", help="the key's id (apikey_...) or the key itself")
        _common(p)

    ws = sub.add_parser("workspaces", help="manage workspaces")
    wp = ws.add_subparsers(dest="workspaces_action", required=True)
    wcreate = wp.add_parser("create", help="create a workspace and print its id")
    wcreate.add_argument("name")
    wcreate.add_argument("--display-color", help="#RRGGBB")
    _common(wcreate)
    wlist = wp.add_parser("list", help="list workspaces (the default one included)")
    wlist.add_argument("--all", action="store_true", help="include archived workspaces")
    _common(wlist)
    warchive = wp.add_parser("archive", help="archive a workspace (its keys stop working)")
    warchive.add_argument("workspace")
    _common(warchive)


def _time(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _key_row(keys: KeyStore, r: ApiKeyRecord) -> tuple[str, ...]:
    status = effective_status(r, keys.clock())
    return (r.id, r.kind, status, r.workspace_id or "(organization)", r.partial_key_hint, _time(r.created_at), r.name)


def _ws_row(r: WorkspaceRecord) -> tuple[str, ...]:
    return (r.id, "archived" if r.archived_at else "active", _time(r.created_at), r.name)


def _keys(args: argparse.Namespace, keys: KeyStore) -> None:
    action = args.keys_action
    if action == "create":
        kind: KeyKind = "admin" if args.admin else "api"
        secret, record = keys.create(name=args.name, workspace_id=args.workspace, kind=kind)
        print(secret)
        where = "the organization (Admin API)" if kind == "admin" else f"workspace {record.workspace_id}"
        print(f"created {record.id} in {where}; shown once, only its hash is stored", file=sys.stderr)
    elif action == "list":
        rows: list[ApiKeyRecord] = []
        after: str | None = None
        while True:
            page = keys.list(
                limit=PAGE,
                after_id=after,
                kind="admin" if args.admin else "api",
                status=args.status,
                workspace_id=args.workspace,
            )
            rows.extend(page.items)
            if not page.has_more or not page.items:
                break
            after = page.items[-1].id
        _print_rows(("ID", "KIND", "STATUS", "WORKSPACE", "HINT", "CREATED", "NAME"), [_key_row(keys, r) for r in rows])
    else:
        statuses: dict[str, KeyStatus] = {"disable": "inactive", "enable": "active", "archive": "archived"}
        record = keys.find(args.key)
        updated = keys.update(record.id, status=statuses[action], kind=None)
        print(f"{updated.id} is now {updated.status}")


def _workspaces(args: argparse.Namespace, keys: KeyStore) -> None:
    action = args.workspaces_action
    if action == "create":
        record = keys.workspaces.create(args.name, display_color=args.display_color)
        print(record.id)
    elif action == "list":
        rows: list[WorkspaceRecord] = []
        after: str | None = None
        while True:
            page = keys.workspaces.list(limit=PAGE, after_id=after, include_archived=args.all, include_default=True)
            rows.extend(page.items)
            if not page.has_more or not page.items:
                break
            after = page.items[-1].id
        _print_rows(("ID", "STATUS", "CREATED", "NAME"), [_ws_row(r) for r in rows])
    else:
        record = keys.workspaces.archive(args.workspace)
        print(f"{record.id} archived; its keys no longer work")


def run_tenancy_command(args: argparse.Namespace) -> None:
    settings = load_settings(args.config, data_dir=args.data_dir, database_url=args.database_url)
    with open_database(settings.database_url, settings.data_dir) as database:
        keys = open_key_store(settings, database)
        try:
            if args.command == "keys":
                _keys(args, keys)
            else:
                _workspaces(args, keys)
        except ApiError as exc:
            print(f"epistula {args.command}: {exc.message}", file=sys.stderr)
            sys.exit(1)
