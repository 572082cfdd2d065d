"""Issue 11 #9: configured keys, key format, failed-authentication throttling, first key."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, fake_settings, running
from epistula.auth.bootstrap import mint_first_key, open_key_store, register_configured_keys
from epistula.auth.keys import KeyStore
from epistula.auth.throttle import FAILURE_BURST, AuthThrottle
from epistula.config import Settings
from epistula.errors import RateLimitError
from epistula.storage.database import Database, open_database

_databases: dict[int, Database] = {}


def _store(tmp_path: Path, **settings: str) -> tuple[KeyStore, Settings]:
    """A key store on the data directory's database, as a server start opens it."""
    config = Settings(engine="fake", data_dir=tmp_path, **settings)  # type: ignore[arg-type]
    database = open_database(config.database_url, config.data_dir)
    keys = open_key_store(config, database)
    _databases[id(keys)] = database
    register_configured_keys(keys, config)
    return keys, config


def _close(keys: KeyStore) -> None:
    _databases.pop(id(keys)).close()


@pytest.mark.parametrize("kind,field", [("api", "api_key"), ("admin", "admin_api_key")])
def test_changing_the_configured_key_revokes_the_old_value(tmp_path: Path, kind: str, field: str) -> None:
    verify = "verify" if kind == "api" else "verify_admin"
    keys, _ = _store(tmp_path, **{field: "sk-first-value"})
    assert getattr(keys, verify)("sk-first-value") is not None
    _close(keys)
    keys, _ = _store(tmp_path, **{field: "sk-second-value"})
    try:
        assert getattr(keys, verify)("sk-second-value") is not None
        assert getattr(keys, verify)("sk-first-value") is None
    finally:
        _close(keys)


def test_keys_created_through_the_api_survive_a_configured_key_change(tmp_path: Path) -> None:
    keys, _ = _store(tmp_path, api_key="sk-first-value")
    secret, _ = keys.create(name="EPISTULA_API_KEY", created_by=("user_1", "user"))
    _close(keys)
    keys, _ = _store(tmp_path, api_key="sk-second-value")
    try:
        assert keys.verify(secret) is not None
    finally:
        _close(keys)


def test_keys_without_the_documented_format_are_refused(tmp_path: Path) -> None:
    keys, _ = _store(tmp_path, api_key="sk-fixed")
    try:
        assert keys.verify("sk-fixed") is not None  # a configured fixed key is fine
        # A key stored by another process in a non-standard format is not looked up here.
        other = KeyStore(keys.store)
        assert other.verify("sk-fixed") is None
        secret, _ = keys.create(name="k")
        assert other.verify(secret) is not None
        assert other.verify(secret + "x" * 600) is None
    finally:
        _close(keys)


def test_no_new_key_when_every_key_is_disabled(tmp_path: Path) -> None:
    keys, _ = _store(tmp_path)
    try:
        first = mint_first_key(keys)
        assert first is not None and first.startswith("sk-epi-api01-")
        record = keys.find(first)
        keys.update(record.id, status="inactive")
        assert keys.count() == 0
        assert mint_first_key(keys) is None
    finally:
        _close(keys)


def test_throttle_bucket_refills() -> None:
    now = [0.0]
    throttle = AuthThrottle(burst=3, per_second=0.5, clock=lambda: now[0])
    for _ in range(3):
        throttle.check("1.2.3.4")
        throttle.failed("1.2.3.4")
    with pytest.raises(RateLimitError) as info:
        throttle.check("1.2.3.4")
    assert info.value.retry_after == pytest.approx(2.0)
    throttle.check("5.6.7.8")  # other clients are not affected
    now[0] = 2.0
    throttle.check("1.2.3.4")


def test_throttle_forgets_the_oldest_clients() -> None:
    throttle = AuthThrottle(burst=1, max_clients=2)
    for address in ("a", "b", "c"):
        throttle.failed(address)
    throttle.check("a")  # forgotten: a full bucket again
    with pytest.raises(RateLimitError):
        throttle.check("c")


def test_failed_authentication_is_throttled_with_the_envelope(tmp_path: Path) -> None:
    with running(fake_settings(tmp_path, auth_throttle_exempt=[])) as live:
        url = f"{live.base_url}/v1/models"
        with httpx.Client() as client:
            for _ in range(FAILURE_BURST):
                assert client.get(url, headers={"x-api-key": "sk-epi-api01-wrong"}).status_code == 401
            refused = client.get(url, headers={"x-api-key": "sk-epi-api01-wrong"})
            assert refused.status_code == 429
            assert refused.json()["type"] == "error"
            assert refused.json()["error"]["type"] == "rate_limit_error"
            assert int(refused.headers["retry-after"]) >= 1
            # While the bucket is empty even a good key waits: guessing cannot go on.
            assert client.get(url, headers=live.headers()).status_code == 429


def test_loopback_is_exempt_by_default(fake_server: LiveServer) -> None:
    url = f"{fake_server.base_url}/v1/models"
    with httpx.Client() as client:
        for _ in range(FAILURE_BURST + 5):
            assert client.get(url, headers={"x-api-key": "sk-epi-api01-wrong"}).status_code == 401
        assert client.get(url, headers=fake_server.headers()).status_code == 200
