"""The key/workspace store contract, on SQLite always and on PostgreSQL when
``EPISTULA_TEST_POSTGRES_URL`` is set (fixtures in ``conftest.py``); then the key
service on top of it.

Two stores opened on one database stand for two server processes: what one writes
(a disabled key, an archived workspace) the other must see on its very next read.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from contract.contract_stores import Opener
from epistula.auth.bootstrap import IMPORTED_SUFFIX, LEGACY_DB, open_key_store, register_configured_keys
from epistula.auth.keys import ADMIN_KEY_PREFIX, DEFAULT_WORKSPACE, KEY_PREFIX, KeyStore, hash_key
from epistula.config import Settings
from epistula.errors import InvalidRequestError, NotFoundError
from epistula.storage.common import ListPage
from epistula.storage.database import open_database
from epistula.storage.tenancy import ApiKeyRecord, MemberRecord, TenancyStore, WorkspaceRecord

T0 = 1_700_000_000.0


def ws(workspace_id: str, name: str = "team", created: float = T0) -> WorkspaceRecord:
    return WorkspaceRecord(id=workspace_id, name=name, created_at=created, display_color="#112233")


def key(key_id: str, workspace_id: str | None = "wrkspc_a", **fields: object) -> ApiKeyRecord:
    values: dict[str, object] = {
        "id": key_id,
        "kind": "api" if workspace_id else "admin",
        "name": key_id,
        "workspace_id": workspace_id,
        "status": "active",
        "partial_key_hint": "sk-...abcd",
        "created_at": T0,
    }
    values.update(fields)
    return ApiKeyRecord(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the store


@pytest.fixture()
def store(tenancy: TenancyStore) -> TenancyStore:
    return tenancy


def test_the_baseline_makes_the_default_workspace(store: TenancyStore) -> None:
    default = store.get_workspace(DEFAULT_WORKSPACE)
    assert default is not None and default.name == "Default" and default.archived_at is None


def test_workspaces_add_get_and_duplicates(store: TenancyStore) -> None:
    record = WorkspaceRecord(
        id="wrkspc_a",
        name="Team A",
        created_at=T0,
        display_color="#ABCDEF",
        tags={"team": "a"},
        data_residency={"workspace_geo": "us"},
    )
    assert store.add_workspace(record)
    assert not store.add_workspace(ws("wrkspc_a", name="other"))
    assert store.get_workspace("wrkspc_a") == record
    assert store.get_workspace("wrkspc_missing") is None


def test_workspace_listing_filters_and_pages(store: TenancyStore) -> None:
    for i in range(5):
        store.add_workspace(ws(f"wrkspc_{i}", created=T0 + i))
    store.archive_workspace("wrkspc_1", T0 + 10)
    page = store.list_workspaces(limit=10)
    assert [w.id for w in page.items] == ["wrkspc_4", "wrkspc_3", "wrkspc_2", "wrkspc_0"]
    everything = store.list_workspaces(limit=10, include_archived=True, include_default=True)
    expected = ["wrkspc_4", "wrkspc_3", "wrkspc_2", "wrkspc_1", "wrkspc_0", DEFAULT_WORKSPACE]
    assert [w.id for w in everything.items] == expected
    first = store.list_workspaces(limit=2)
    assert [w.id for w in first.items] == ["wrkspc_4", "wrkspc_3"] and first.has_more
    second = store.list_workspaces(limit=2, after_id="wrkspc_3")
    assert [w.id for w in second.items] == ["wrkspc_2", "wrkspc_0"] and not second.has_more
    back = store.list_workspaces(limit=1, before_id="wrkspc_2")
    assert [w.id for w in back.items] == ["wrkspc_3"] and back.has_more
    chosen = store.list_workspaces(limit=10, ids=["wrkspc_0", "wrkspc_1", "wrkspc_nope"])
    assert [w.id for w in chosen.items] == ["wrkspc_0"]
    assert store.list_workspaces(limit=10, ids=[]).items == []


def test_workspace_update(store: TenancyStore) -> None:
    store.add_workspace(ws("wrkspc_a"))
    updated = store.update_workspace(
        "wrkspc_a", name="renamed", tags={"k": "v"}, data_residency={"default_inference_geo": "us"}
    )
    assert updated is not None
    assert (updated.name, updated.display_color, updated.tags) == ("renamed", "#112233", {"k": "v"})
    assert updated.data_residency == {"default_inference_geo": "us"}
    assert store.update_workspace("wrkspc_a") == updated
    assert store.update_workspace("wrkspc_missing", name="x") is None


def test_archiving_a_workspace_archives_its_keys_and_is_seen_by_another_process(opener: Opener) -> None:
    one, two = opener().tenancy, opener().tenancy
    one.add_workspace(ws("wrkspc_a"))
    one.add_workspace(ws("wrkspc_b"))
    one.add_key(key("apikey_a"), "hash-a")
    one.add_key(key("apikey_b", "wrkspc_b"), "hash-b")
    match = two.find_key("hash-a")
    assert match is not None and not match.workspace_archived
    archived = one.archive_workspace("wrkspc_a", T0 + 5)
    assert archived is not None and archived.archived_at == T0 + 5
    again = one.archive_workspace("wrkspc_a", T0 + 9)
    assert again is not None and again.archived_at == T0 + 5, "archived_at is set once"
    match = two.find_key("hash-a")
    assert match is not None and match.workspace_archived and match.key.status == "archived"
    other = two.find_key("hash-b")
    assert other is not None and other.key.status == "active" and not other.workspace_archived


def test_keys_add_find_and_duplicate_hashes(store: TenancyStore) -> None:
    store.add_workspace(ws("wrkspc_a"))
    record = key("apikey_1", created_by_id="apikey_admin", created_by_type="api_key", expires_at=T0 + 60)
    assert store.add_key(record, "h1")
    assert not store.add_key(key("apikey_2"), "h1"), "a hash is registered once"
    assert store.get_key("apikey_2") is None
    assert store.get_key("apikey_1") == record
    assert store.key_by_hash("h1") == record
    match = store.find_key("h1")
    assert match is not None and match.key == record and match.key_hash == "h1"
    assert store.find_key("h-unknown") is None
    admin = key("apikey_admin", None)
    assert store.add_key(admin, "h-admin")
    found = store.find_key("h-admin")
    assert found is not None and found.key.kind == "admin" and found.key.workspace_id is None
    assert not found.workspace_archived


def test_key_listing_filters_and_pages(store: TenancyStore) -> None:
    store.add_workspace(ws("wrkspc_a"))
    store.add_workspace(ws("wrkspc_b"))
    store.add_key(key("apikey_1"), "h1")
    store.add_key(key("apikey_2", "wrkspc_b", created_by_id="u1", created_by_type="user"), "h2")
    store.add_key(key("apikey_3", status="inactive"), "h3")
    store.add_key(key("apikey_4", expires_at=T0 + 10), "h4")
    store.add_key(key("apikey_admin", None), "h5")

    def ids(page: ListPage[ApiKeyRecord]) -> list[str]:
        return [k.id for k in page.items]

    assert ids(store.list_keys(limit=10)) == ["apikey_4", "apikey_3", "apikey_2", "apikey_1"]
    assert ids(store.list_keys(limit=10, kind="admin")) == ["apikey_admin"]
    assert len(store.list_keys(limit=10, kind=None).items) == 5
    assert ids(store.list_keys(limit=10, workspace_id="wrkspc_b")) == ["apikey_2"]
    assert ids(store.list_keys(limit=10, created_by_id="u1")) == ["apikey_2"]
    assert ids(store.list_keys(limit=10, status="inactive")) == ["apikey_3"]
    assert ids(store.list_keys(limit=10, status="active", now=T0 + 5)) == ["apikey_4", "apikey_2", "apikey_1"]
    assert ids(store.list_keys(limit=10, status="active", now=T0 + 20)) == ["apikey_2", "apikey_1"]
    assert ids(store.list_keys(limit=10, status="expired", now=T0 + 20)) == ["apikey_4"]
    page = store.list_keys(limit=2)
    assert ids(page) == ["apikey_4", "apikey_3"] and page.has_more
    page = store.list_keys(limit=2, after_id="apikey_3")
    assert ids(page) == ["apikey_2", "apikey_1"] and not page.has_more
    page = store.list_keys(limit=2, before_id="apikey_1")
    assert ids(page) == ["apikey_3", "apikey_2"] and page.has_more


def test_key_update_is_seen_by_another_process_at_once(opener: Opener) -> None:
    one, two = opener().tenancy, opener().tenancy
    one.add_workspace(ws("wrkspc_a"))
    one.add_key(key("apikey_1"), "h1")
    assert two.find_key("h1") is not None
    updated = one.update_key("apikey_1", name="renamed", status="inactive")
    assert updated is not None and (updated.name, updated.status) == ("renamed", "inactive")
    match = two.find_key("h1")
    assert match is not None and match.key.status == "inactive" and match.key.name == "renamed"
    assert one.update_key("apikey_missing", status="inactive") is None
    assert one.count_keys("api") == 0 and one.count_keys("api", status="inactive") == 1


def test_members(store: TenancyStore) -> None:
    store.add_workspace(ws("wrkspc_a"))
    for i in range(4):
        assert store.put_member(MemberRecord("wrkspc_a", f"user_{i}", "workspace_user"), create=True)
    assert not store.put_member(MemberRecord("wrkspc_a", "user_0", "workspace_admin"), create=True)
    assert store.put_member(MemberRecord("wrkspc_a", "user_0", "workspace_admin"), create=False)
    assert not store.put_member(MemberRecord("wrkspc_a", "user_9", "workspace_admin"), create=False)
    assert store.get_member("wrkspc_a", "user_0") == MemberRecord("wrkspc_a", "user_0", "workspace_admin")
    assert store.get_member("wrkspc_b", "user_0") is None

    def users(page: ListPage[MemberRecord]) -> list[str]:
        return [m.user_id for m in page.items]

    first = store.list_members("wrkspc_a", limit=3)
    assert users(first) == ["user_0", "user_1", "user_2"] and first.has_more
    rest = store.list_members("wrkspc_a", limit=3, after_id="user_2")
    assert users(rest) == ["user_3"] and not rest.has_more
    back = store.list_members("wrkspc_a", limit=2, before_id="user_3")
    assert users(back) == ["user_1", "user_2"] and back.has_more
    assert store.remove_member("wrkspc_a", "user_1")
    assert not store.remove_member("wrkspc_a", "user_1")
    assert users(store.list_members("wrkspc_a", limit=10)) == ["user_0", "user_2", "user_3"]


# ---------------------------------------------------------------- the key service on top


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_verification_follows_every_change_made_elsewhere(opener: Opener) -> None:
    clock = Clock()
    admin_side, replica = KeyStore(opener().tenancy, clock=clock), KeyStore(opener().tenancy, clock=clock)
    team = admin_side.workspaces.create("team")
    secret, record = admin_side.create(name="k", workspace_id=team.id, expires_at=T0 + 100)
    assert secret.startswith(KEY_PREFIX) and record.partial_key_hint.startswith(KEY_PREFIX)
    assert secret[-4:] == record.partial_key_hint[-4:] and secret not in record.partial_key_hint
    principal = replica.verify(secret)
    assert principal is not None and (principal.key_id, principal.workspace_id) == (record.id, team.id)
    assert replica.verify_admin(secret) is None, "an API key is not an admin key"
    assert replica.verify(secret + "x") is None and replica.verify("") is None

    admin_side.update(record.id, status="inactive")
    assert replica.verify(secret) is None
    admin_side.update(record.id, status="active")
    assert replica.verify(secret) is not None
    clock.now = T0 + 100
    assert replica.verify(secret) is None, "expired"
    with pytest.raises(InvalidRequestError):
        admin_side.update(record.id, status="active")
    clock.now = T0

    admin_side.workspaces.archive(team.id)
    assert replica.verify(secret) is None
    with pytest.raises(InvalidRequestError):
        admin_side.update(record.id, status="active")
    with pytest.raises(InvalidRequestError):
        admin_side.create(name="late", workspace_id=team.id)


def test_admin_keys_are_their_own_kind(store: TenancyStore) -> None:
    keys = KeyStore(store)
    secret, record = keys.create(name="ops", kind="admin")
    assert secret.startswith(ADMIN_KEY_PREFIX) and record.workspace_id is None
    admin = keys.verify_admin(secret)
    assert admin is not None and admin.key_id == record.id
    assert keys.verify(secret) is None, "an admin key cannot call the Messages API"
    with pytest.raises(NotFoundError):
        keys.get(record.id)  # the Admin API's key endpoints see API keys only
    assert keys.get(record.id, kind=None) == record
    keys.update(record.id, status="inactive", kind=None)
    assert keys.verify_admin(secret) is None


def test_archived_keys_stay_archived(store: TenancyStore) -> None:
    keys = KeyStore(store)
    secret, record = keys.create(name="k")
    keys.update(record.id, status="archived")
    for status in ("active", "inactive"):
        with pytest.raises(InvalidRequestError):
            keys.update(record.id, status=status)
    assert keys.update(record.id, name="renamed").name == "renamed"
    assert keys.verify(secret) is None


def test_only_hashes_are_stored(store: TenancyStore, tmp_path: Path) -> None:
    keys = KeyStore(store)
    secret, record = keys.create(name="k")
    admin_secret, _ = keys.create(name="a", kind="admin")
    assert keys.find(secret) == record and keys.find(record.id) == record
    dumped = repr(store.list_keys(limit=100, kind=None)) + repr(store.find_key(hash_key(secret)))
    assert secret not in dumped and secret[len(KEY_PREFIX) :][:20] not in dumped
    db = tmp_path / "storage.db"
    if db.exists():  # SQLite: not in the file either (WAL included)
        blob = b"".join(p.read_bytes() for p in tmp_path.glob("storage.db*") if p.is_file())
        assert secret.encode() not in blob and admin_secret.encode() not in blob
        assert hash_key(secret).encode() in blob


def test_add_is_idempotent_and_keeps_a_disabled_key_disabled(store: TenancyStore) -> None:
    keys = KeyStore(store)
    first = keys.add("sk-fixed", name="EPISTULA_API_KEY")
    keys.update(first.id, status="inactive")
    again = keys.add("sk-fixed", name="EPISTULA_API_KEY")
    assert again.id == first.id and again.status == "inactive"
    assert keys.verify("sk-fixed") is None
    with pytest.raises(NotFoundError):
        keys.add("sk-other", name="x", workspace_id="wrkspc_missing")


# ---------------------------------------------------------------- the old epistula.db


_OLD_SCHEMA = """
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL
);
"""


def test_keys_in_the_old_epistula_db_are_imported_once(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / LEGACY_DB)
    db.executescript(_OLD_SCHEMA)
    rows = [
        ("apikey_old1", "default", hash_key("sk-epi-api01-old-one"), "sk-epi-api01-old...-one", DEFAULT_WORKSPACE),
        ("apikey_old2", "team", hash_key("sk-epi-api01-old-two"), "sk-epi-api01-old...-two", "wrkspc_team"),
    ]
    for row in rows:
        db.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, 'active', '2025-01-02T03:04:05Z')", row)
    db.execute(
        "INSERT INTO api_keys VALUES ('apikey_old3', 'off', ?, 'h', ?, 'inactive', '2025-01-02T03:04:05Z')",
        (hash_key("sk-epi-api01-old-off"), DEFAULT_WORKSPACE),
    )
    db.commit()
    db.close()
    settings = Settings(engine="fake", data_dir=tmp_path, api_key="sk-fixed")

    with open_database(None, tmp_path) as database:
        keys = open_key_store(settings, database)
        register_configured_keys(keys, settings)
        one = keys.verify("sk-epi-api01-old-one")
        assert one is not None and (one.key_id, one.workspace_id) == ("apikey_old1", DEFAULT_WORKSPACE)
        two = keys.verify("sk-epi-api01-old-two")
        assert two is not None and two.workspace_id == "wrkspc_team"
        assert keys.workspaces.get("wrkspc_team").name == "wrkspc_team"
        assert keys.verify("sk-epi-api01-old-off") is None
        record = keys.get("apikey_old1")
        assert record.created_at == 1735787045.0 and record.partial_key_hint == "sk-epi-api01-old...-one"
        keys.update("apikey_old1", status="inactive")
    assert not (tmp_path / LEGACY_DB).exists()
    assert (tmp_path / (LEGACY_DB + IMPORTED_SUFFIX)).exists()

    with open_database(None, tmp_path) as database:  # a restart: nothing imported again, the change kept
        keys = open_key_store(settings, database)
        assert keys.verify("sk-epi-api01-old-one") is None
        assert keys.verify("sk-epi-api01-old-two") is not None
        assert keys.verify("sk-fixed") is None  # a fixed key counts only while it is configured
        register_configured_keys(keys, settings)
        assert keys.verify("sk-fixed") is not None
        assert len(keys.list(limit=100).items) == 4
