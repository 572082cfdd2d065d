"""API keys and admin keys: the secret format, hashing, and verification against the
shared database.

Only SHA-256 hashes are stored; a lookup by hash is followed by a constant-time compare.
A key is looked up only if it has the documented format (``sk-epi-api01-...``,
``sk-epi-admin01-...``) or was registered in this process as a fixed key (the settings'
``api_key``/``admin_api_key``); anything else is refused without touching the database.
Verification reads the database on every request (no cache), so a key disabled through
the Admin API or the CLI gets 401 on the very next request on every replica.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Unpack

from epistula import ids
from epistula.errors import InvalidRequestError, NotFoundError
from epistula.storage.common import ListPage
from epistula.storage.tenancy import DEFAULT_WORKSPACE_ID, ApiKeyRecord, KeyKind, KeyQuery, KeyStatus, TenancyStore

from .workspaces import Workspaces

KEY_PREFIX = "sk-epi-api01-"
ADMIN_KEY_PREFIX = "sk-epi-admin01-"
DEFAULT_WORKSPACE = DEFAULT_WORKSPACE_ID
PREFIXES: dict[KeyKind, str] = {"api": KEY_PREFIX, "admin": ADMIN_KEY_PREFIX}
MAX_KEY_CHARS = 512


def new_secret(kind: KeyKind = "api") -> str:
    return PREFIXES[kind] + secrets.token_urlsafe(40).replace("-", "A").replace("_", "B")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def partial_hint(key: str) -> str:
    """Like the Console's ``sk-ant-api03-R2D...igAA``: the prefix, 3 characters, the last 4."""
    kind_prefix = next((p for p in PREFIXES.values() if key.startswith(p)), "")
    head = key[: len(kind_prefix) + 3] if kind_prefix else key[:3]
    return f"{head}...{key[-4:]}" if len(key) > len(head) + 4 else "..."


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a workspace API key speaks for; its workspace scopes every resource."""

    key_id: str
    workspace_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """An Admin API key: organisation-wide, valid only on ``/v1/organizations/...``."""

    key_id: str
    name: str


def effective_status(record: ApiKeyRecord, now: float) -> KeyStatus:
    if record.status == "active" and record.expires_at is not None and record.expires_at <= now:
        return "expired"
    return record.status


class KeyStore:
    """Keys (and, through :attr:`workspaces`, workspaces) over one :class:`TenancyStore`.

    The store is synchronous like the storage layer; verification is one indexed read in
    a read transaction of its own.
    """

    def __init__(self, store: TenancyStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.workspaces = Workspaces(store, clock=clock)
        self._fixed: set[str] = set()
        """Hashes of fixed keys registered here that do not have the documented format."""

    # ------------------------------------------------------------ verification

    def _match(self, key: str, kind: KeyKind) -> ApiKeyRecord | None:
        if len(key) > MAX_KEY_CHARS:
            return None
        digest = hash_key(key)
        if not key.startswith(PREFIXES[kind]) and digest not in self._fixed:
            return None
        found = self.store.find_key(digest)
        if found is None or not hmac.compare_digest(found.key_hash, digest):
            return None
        record = found.key
        if record.kind != kind or found.workspace_archived:
            return None
        if effective_status(record, self.clock()) != "active":
            return None
        return record

    def verify(self, key: str) -> Principal | None:
        record = self._match(key, "api")
        if record is None or record.workspace_id is None:
            return None
        return Principal(key_id=record.id, workspace_id=record.workspace_id, name=record.name)

    def verify_admin(self, key: str) -> AdminPrincipal | None:
        record = self._match(key, "admin")
        return None if record is None else AdminPrincipal(key_id=record.id, name=record.name)

    # ------------------------------------------------------------ management

    def add(
        self,
        key: str,
        *,
        name: str,
        workspace_id: str | None = DEFAULT_WORKSPACE,
        kind: KeyKind = "api",
        created_by: tuple[str, str] | None = None,
        expires_at: float | None = None,
    ) -> ApiKeyRecord:
        """Register a secret chosen elsewhere (``EPISTULA_API_KEY``, an imported key).
        Idempotent: a secret registered already keeps its record, status included, so a
        key disabled through the Admin API stays disabled across restarts."""
        if kind == "admin":
            workspace_id = None
        elif workspace_id is None:
            raise InvalidRequestError("workspace_id: an API key belongs to a workspace")
        else:
            workspace = self.workspaces.get(workspace_id)
            if workspace.archived_at is not None:
                raise InvalidRequestError(f"workspace_id: workspace {workspace_id} is archived")
        record = ApiKeyRecord(
            id=ids.new_id("apikey_"),
            kind=kind,
            name=name,
            workspace_id=workspace_id,
            status="active",
            partial_key_hint=partial_hint(key),
            created_at=self.clock(),
            created_by_id=created_by[0] if created_by else None,
            created_by_type=created_by[1] if created_by else None,
            expires_at=expires_at,
        )
        digest = hash_key(key)
        if not key.startswith(PREFIXES[kind]):
            self._fixed.add(digest)
        if self.store.add_key(record, digest):
            return record
        existing = self.store.key_by_hash(digest)
        assert existing is not None
        return existing

    def create(
        self,
        *,
        name: str,
        workspace_id: str | None = DEFAULT_WORKSPACE,
        kind: KeyKind = "api",
        created_by: tuple[str, str] | None = None,
        expires_at: float | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """A new secret (returned once, never stored) and its record."""
        key = new_secret(kind)
        return key, self.add(
            key, name=name, workspace_id=workspace_id, kind=kind, created_by=created_by, expires_at=expires_at
        )

    def get(self, key_id: str, *, kind: KeyKind | None = "api") -> ApiKeyRecord:
        record = self.store.get_key(key_id)
        if record is None or (kind is not None and record.kind != kind):
            raise NotFoundError(f"api_key_id: API key {key_id} not found")
        return record

    def find(self, key_id_or_secret: str) -> ApiKeyRecord:
        """By id, or by the secret itself (to disable a leaked key)."""
        if key_id_or_secret.startswith("apikey_"):
            return self.get(key_id_or_secret, kind=None)
        record = self.store.key_by_hash(hash_key(key_id_or_secret))
        if record is None:
            raise NotFoundError("no such API key")
        return record

    def list(self, **query: Unpack[KeyQuery]) -> ListPage[ApiKeyRecord]:
        """API keys unless ``kind`` says otherwise; the status filter compares expiry with now."""
        return self.store.list_keys(**query, now=self.clock())

    def update(
        self, key_id: str, *, name: str | None = None, status: KeyStatus | None = None, kind: KeyKind | None = "api"
    ) -> ApiKeyRecord:
        """Rename, or set ``active``/``inactive``/``archived``. Archiving is final (as in
        the Console), and an expired key cannot be reactivated."""
        record = self.get(key_id, kind=kind)
        current = effective_status(record, self.clock())
        if status is not None and status != current:
            if status == "expired":
                raise InvalidRequestError("status: Input should be 'active', 'inactive' or 'archived'")
            if current == "archived":
                raise InvalidRequestError(f"API key {key_id} is archived; its status cannot change")
            if status == "active" and current == "expired":
                raise InvalidRequestError(f"API key {key_id} has expired; it cannot be reactivated")
            if status == "active" and record.workspace_id is not None:
                workspace = self.workspaces.get(record.workspace_id)
                if workspace.archived_at is not None:
                    raise InvalidRequestError(f"API key {key_id} belongs to an archived workspace")
        updated = self.store.update_key(key_id, name=name, status=status)
        if updated is None:
            raise NotFoundError(f"api_key_id: API key {key_id} not found")
        return updated

    def count(self, kind: KeyKind = "api") -> int:
        """Active keys of this kind."""
        return self.store.count_keys(kind)

    def ever_had(self, kind: KeyKind = "api") -> bool:
        """Whether any key of this kind exists, whatever its status (disabled ones too)."""
        return bool(self.store.list_keys(limit=1, kind=kind, now=self.clock()).items)

    def active_named(self, name: str, kind: KeyKind) -> tuple[ApiKeyRecord, ...]:
        """Active keys of ``kind`` called ``name`` that no one created through the API."""
        found: tuple[ApiKeyRecord, ...] = ()
        after: str | None = None
        while True:
            page = self.list(limit=1000, after_id=after, kind=kind, status="active")
            found += tuple(r for r in page.items if r.name == name and r.created_by_id is None)
            if not page.has_more or not page.items:
                return found
            after = page.items[-1].id
