"""API keys: ``sk-epi-api01-<secret>``, stored only as SHA-256 hashes in SQLite,
compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from epistula import ids

KEY_PREFIX = "sk-epi-api01-"
DEFAULT_WORKSPACE = "wrkspc_default"


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(40).replace("-", "A").replace("_", "B")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    workspace_id: str
    name: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL
);
"""


class KeyStore:
    """SQLite-backed key store in the data directory."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM api_keys WHERE status='active'").fetchone()
        return int(n)

    def add(self, key: str, *, name: str, workspace_id: str = DEFAULT_WORKSPACE) -> Principal:
        key_id = ids.new_id("apikey_")
        hint = key[:len(KEY_PREFIX) + 4] + "..." + key[-4:]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO api_keys (id, name, key_hash, hint, workspace_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, hash_key(key), hint, workspace_id, now),
            )
        found = self.verify(key)
        assert found is not None
        return found

    def create(self, *, name: str, workspace_id: str = DEFAULT_WORKSPACE) -> tuple[str, Principal]:
        key = new_secret()
        return key, self.add(key, name=name, workspace_id=workspace_id)

    def verify(self, key: str) -> Principal | None:
        digest = hash_key(key)
        with self._lock:
            row = self._db.execute(
                "SELECT id, workspace_id, name, key_hash FROM api_keys WHERE key_hash=? AND status='active'",
                (digest,),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[3], digest):
            return None
        return Principal(key_id=row[0], workspace_id=row[1], name=row[2])
