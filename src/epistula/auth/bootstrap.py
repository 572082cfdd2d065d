"""Opening the key store for the server and the CLI: the shared database, the one-time
import of keys from the old ``epistula.db``, and the keys fixed by the settings.

Before workspaces existed, keys lived in ``<data_dir>/epistula.db`` (table ``api_keys``:
hash, name, hint, workspace, status). Their hashes are copied into the storage database
once, with their ids and statuses, and the file is renamed ``epistula.db.imported`` so it
is neither read again nor silently lost. Copying is idempotent by hash, so an interrupted
import (or two replicas importing the same file) cannot duplicate a key.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from epistula.config import Settings
from epistula.storage.database import Database
from epistula.storage.tenancy import ApiKeyRecord, KeyKind, TenancyStore

from .keys import KeyStore

LEGACY_DB = "epistula.db"
IMPORTED_SUFFIX = ".imported"

log = logging.getLogger("epistula.auth")


def _timestamp(text: str | None) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def import_legacy_keys(keys: KeyStore, data_dir: Path) -> int:
    """Copy ``epistula.db`` keys into the storage database; returns how many were new."""
    path = data_dir / LEGACY_DB
    if not path.exists():
        return 0
    db = sqlite3.connect(path)  # read-write, so that closing it checkpoints a leftover WAL
    try:
        has_table = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'api_keys'").fetchone()
        rows = []
        if has_table:
            cols = {row[1] for row in db.execute("PRAGMA table_info(api_keys)")}
            kind = "kind" if "kind" in cols else "'api'"
            rows = db.execute(
                f"SELECT id, name, key_hash, hint, workspace_id, status, created_at, {kind} FROM api_keys"
            ).fetchall()
    finally:
        db.close()
    added = 0
    for key_id, name, key_hash, hint, workspace_id, status, created_at, kind in rows:
        is_admin = kind == "admin"
        if not is_admin:
            keys.workspaces.ensure(workspace_id)
        record = ApiKeyRecord(
            id=key_id,
            kind="admin" if is_admin else "api",
            name=name,
            workspace_id=None if is_admin else workspace_id,
            status=status if status in ("active", "inactive", "archived") else "inactive",
            partial_key_hint=hint,
            created_at=_timestamp(created_at),
        )
        if keys.store.key_by_hash(key_hash) is None and keys.store.add_key(record, key_hash):
            added += 1
    path.rename(path.with_name(LEGACY_DB + IMPORTED_SUFFIX))
    for extra in ("-wal", "-shm"):
        path.with_name(LEGACY_DB + extra).unlink(missing_ok=True)
    log.info("imported %d API keys from %s", added, path)
    return added


def open_key_store(settings: Settings, database: Database) -> KeyStore:
    """The key store on the database, with old keys imported."""
    keys = KeyStore(TenancyStore(database))
    import_legacy_keys(keys, settings.data_dir)
    return keys


CONFIGURED_NAMES: dict[KeyKind, str] = {"api": "EPISTULA_API_KEY", "admin": "EPISTULA_ADMIN_API_KEY"}


def register_configured_keys(keys: KeyStore, settings: Settings) -> None:
    """``EPISTULA_API_KEY`` (default workspace) and ``EPISTULA_ADMIN_API_KEY``: accepted
    from the first request on. A key disabled through the API stays disabled, and a
    changed value revokes the previous one (it is set ``inactive``)."""
    configured: dict[KeyKind, SecretStr | None] = {"api": settings.api_key, "admin": settings.admin_api_key}
    for kind, secret in configured.items():
        if secret is None:
            continue
        name = CONFIGURED_NAMES[kind]
        current = keys.add(secret.get_secret_value(), name=name, kind=kind)
        for old in keys.active_named(name, kind):
            if old.id != current.id:
                keys.update(old.id, status="inactive", kind=kind)
                log.warning("%s changed: the previous key %s is now inactive", name, old.id)


def mint_first_key(keys: KeyStore) -> str | None:
    """A new API key for a database that has never had one (returned once, never stored);
    ``None`` once any key exists, even if every key is disabled: disabling all keys in an
    incident must not reopen access on the next restart."""
    if keys.ever_had("api"):
        return None
    key, _ = keys.create(name="default")
    return key
