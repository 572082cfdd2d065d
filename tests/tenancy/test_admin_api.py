"""The Admin API for API keys, workspaces and members, through the official SDK
(``client.organization.*``) and raw httpx for what the SDK hides."""

from __future__ import annotations

import re
import secrets

import anthropic
import httpx
import pytest

from batches.support import API_KEY, Live
from conftest import assert_error

from .conftest import ADMIN_KEY, create_key, create_workspace

MODEL = "claude-haiku-4-5"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def say(client: anthropic.Anthropic, text: str = "hi") -> str:
    message = client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": f"#say:{text}"}])
    block = message.content[0]
    assert block.type == "text"
    return block.text


def raw(live: Live, method: str, path: str, key: str | None = ADMIN_KEY, **kwargs: object) -> httpx.Response:
    headers = {"anthropic-version": "2023-06-01"}
    if key is not None:
        headers["x-api-key"] = key
    return httpx.request(method, live.base_url + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- authentication


ADMIN_PATHS = [
    ("GET", "/v1/organizations/me"),
    ("GET", "/v1/organizations/api_keys"),
    ("POST", "/v1/organizations/api_keys"),
    ("GET", "/v1/organizations/api_keys/apikey_01x"),
    ("GET", "/v1/organizations/workspaces"),
    ("POST", "/v1/organizations/workspaces"),
    ("POST", "/v1/organizations/workspaces/wrkspc_default/archive"),
    ("GET", "/v1/organizations/workspaces/wrkspc_default/members"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_PATHS)
def test_ordinary_keys_get_403_and_unknown_keys_401_on_the_admin_api(
    tenancy_server: Live, method: str, path: str
) -> None:
    kwargs = {"json": {"name": "x"}} if method == "POST" else {}
    assert_error(raw(tenancy_server, method, path, key=API_KEY, **kwargs), 403, "permission_error")
    assert_error(raw(tenancy_server, method, path, key="sk-nope", **kwargs), 401, "authentication_error")
    assert_error(raw(tenancy_server, method, path, key=None, **kwargs), 401, "authentication_error")


def test_the_sdk_raises_permission_denied_for_an_ordinary_key(tenancy_server: Live) -> None:
    with pytest.raises(anthropic.PermissionDeniedError):
        tenancy_server.client().organization.workspaces.list()
    with pytest.raises(anthropic.PermissionDeniedError):
        tenancy_server.client().organization.api_keys.list()


def test_admin_keys_cannot_call_the_messages_api(tenancy_server: Live, admin: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        say(admin)
    resp = httpx.post(
        tenancy_server.base_url + "/v1/messages",
        headers={"authorization": f"Bearer {ADMIN_KEY}", "anthropic-version": "2023-06-01"},
        json={"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert_error(resp, 401, "authentication_error", "invalid x-api-key")


def test_organization_me(tenancy_server: Live, admin: anthropic.Anthropic) -> None:
    org = admin.organization.retrieve()
    assert org.type == "organization" and org.id == tenancy_server.state.settings.organization_id and org.name


def test_admin_api_requires_the_version_header(tenancy_server: Live) -> None:
    resp = httpx.get(tenancy_server.base_url + "/v1/organizations/workspaces", headers={"x-api-key": ADMIN_KEY})
    assert_error(resp, 400, "invalid_request_error", contains="anthropic-version")


# ---------------------------------------------------------------- workspaces


def test_workspace_lifecycle(admin: anthropic.Anthropic) -> None:
    created = admin.organization.workspaces.create(name="Research", display_color="#FF8800", tags={"team": "r"})
    assert created.id.startswith("wrkspc_") and created.type == "workspace"
    assert (created.name, created.display_color, created.tags) == ("Research", "#FF8800", {"team": "r"})
    assert created.archived_at is None and created.compartment_id
    assert created.data_residency.workspace_geo == "us"
    assert created.data_residency.allowed_inference_geos == "unrestricted"

    fetched = admin.organization.workspaces.retrieve(created.id)
    assert fetched == created

    updated = admin.organization.workspaces.update(created.id, name="Research 2", tags={"team": None, "cost": "c1"})
    assert (updated.name, updated.tags, updated.display_color) == ("Research 2", {"cost": "c1"}, "#FF8800")

    archived = admin.organization.workspaces.archive(created.id)
    assert archived.archived_at is not None
    listed = [w.id for w in admin.organization.workspaces.list(limit=1000).data]
    assert created.id not in listed
    with_archived = admin.organization.workspaces.list(include_archived=True, limit=1000).data
    assert created.id in [w.id for w in with_archived]
    with pytest.raises(anthropic.BadRequestError):
        admin.organization.workspaces.update(created.id, name="too late")


def test_workspace_listing_pages_like_the_real_api(admin: anthropic.Anthropic) -> None:
    ids = [create_workspace(admin) for _ in range(3)]
    page = admin.organization.workspaces.list(ids=ids, limit=2)
    assert [w.id for w in page.data] == ids[::-1][:2] and page.has_more
    assert (page.first_id, page.last_id) == (ids[2], ids[1])
    rest = admin.organization.workspaces.list(ids=ids, limit=2, after_id=page.last_id)
    assert [w.id for w in rest.data] == [ids[0]] and not rest.has_more
    before = admin.organization.workspaces.list(ids=ids, limit=2, before_id=ids[0])
    assert [w.id for w in before.data] == [ids[2], ids[1]]
    assert [w.id for w in admin.organization.workspaces.list(ids=ids, limit=1)] == ids[::-1], "SDK auto-paging"
    defaults = admin.organization.workspaces.list(ids=["wrkspc_default"]).data
    assert defaults == []
    with_default = admin.organization.workspaces.list(ids=["wrkspc_default"], include_default=True).data
    assert [w.id for w in with_default] == ["wrkspc_default"] and with_default[0].name == "Default"


def test_workspace_errors(tenancy_server: Live, admin: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        admin.organization.workspaces.retrieve("wrkspc_missing")
    with pytest.raises(anthropic.BadRequestError):
        admin.organization.workspaces.archive("wrkspc_default")
    post = "/v1/organizations/workspaces"
    assert_error(raw(tenancy_server, "POST", post, json={}), 400, "invalid_request_error", contains="name")
    assert_error(raw(tenancy_server, "POST", post, json={"name": "x", "colour": "red"}), 400, "invalid_request_error")
    assert_error(
        raw(tenancy_server, "POST", post, json={"name": "x", "display_color": "red"}), 400, "invalid_request_error"
    )
    assert_error(raw(tenancy_server, "POST", post, json={"name": "x" * 41}), 400, "invalid_request_error")
    assert_error(
        raw(tenancy_server, "POST", post, json={"name": "x", "tags": {"anthropic-x": "1"}}),
        400,
        "invalid_request_error",
    )
    assert_error(raw(tenancy_server, "POST", post, content=b"{"), 400, "invalid_request_error")
    limit = raw(tenancy_server, "GET", "/v1/organizations/workspaces?limit=0")
    assert_error(limit, 400, "invalid_request_error", contains="limit")
    assert_error(
        raw(tenancy_server, "GET", "/v1/organizations/workspaces?include_archived=maybe"),
        400,
        "invalid_request_error",
    )


# ---------------------------------------------------------------- API keys


def test_key_lifecycle_through_the_admin_api(tenancy_server: Live, admin: anthropic.Anthropic) -> None:
    workspace_id = create_workspace(admin)
    created = create_key(admin, workspace_id, name="service-a")
    secret = created["key"]
    assert secret.startswith("sk-epi-api01-")
    assert created["id"].startswith("apikey_") and created["type"] == "api_key"
    assert created["scope"] == {"type": "workspace", "workspace_id": workspace_id}
    assert created["partial_key_hint"].endswith(secret[-4:]) and secret not in created["partial_key_hint"]
    assert RFC3339.fullmatch(created["created_at"])
    user = tenancy_server.client(api_key=secret)
    assert say(user, "works") == "works"

    key = admin.organization.api_keys.retrieve(created["id"])
    assert key.status == "active" and key.name == "service-a" and key.scope.type == "workspace"
    assert key.created_by is not None and key.created_by.id.startswith("apikey_")
    assert not hasattr(key, "key") or getattr(key, "key", None) is None, "the secret is shown once"

    renamed = admin.organization.api_keys.update(created["id"], name="service-b")
    assert renamed.name == "service-b" and renamed.status == "active"

    disabled = admin.organization.api_keys.update(created["id"], status="inactive")
    assert disabled.status == "inactive"
    with pytest.raises(anthropic.AuthenticationError):
        say(user)  # at once: no cache in front of the database
    admin.organization.api_keys.update(created["id"], status="active")
    assert say(user, "back") == "back"

    admin.organization.api_keys.update(created["id"], status="archived")
    with pytest.raises(anthropic.AuthenticationError):
        say(user)
    with pytest.raises(anthropic.BadRequestError):
        admin.organization.api_keys.update(created["id"], status="active")


def test_key_listing_filters_and_pages(tenancy_server: Live, admin: anthropic.Anthropic) -> None:
    workspace_id = create_workspace(admin)
    ids = [create_key(admin, workspace_id, name=f"k{i}")["id"] for i in range(3)]
    admin.organization.api_keys.update(ids[0], status="inactive")
    listed = admin.organization.api_keys.list(workspace_id=workspace_id)
    assert [k.id for k in listed.data] == ids[::-1] and not listed.has_more
    active = admin.organization.api_keys.list(workspace_id=workspace_id, status="active")
    assert [k.id for k in active.data] == [ids[2], ids[1]]
    inactive = admin.organization.api_keys.list(workspace_id=workspace_id, status="inactive")
    assert [k.id for k in inactive.data] == [ids[0]]
    page = admin.organization.api_keys.list(workspace_id=workspace_id, limit=2)
    assert [k.id for k in page.data] == [ids[2], ids[1]] and page.has_more and page.last_id == ids[1]
    nxt = admin.organization.api_keys.list(workspace_id=workspace_id, limit=2, after_id=page.last_id)
    assert [k.id for k in nxt.data] == [ids[0]] and not nxt.has_more
    assert [k.id for k in admin.organization.api_keys.list(workspace_id=workspace_id, limit=1)] == ids[::-1]
    everything = [k.id for k in admin.organization.api_keys.list(limit=1000)]
    assert set(ids) <= set(everything)
    admin_ids = {k.id for k in tenancy_server.state.keys.list(limit=1000, kind="admin").items}
    assert not admin_ids & set(everything), "admin keys are not API keys"
    resp = raw(tenancy_server, "GET", "/v1/organizations/api_keys?status=bogus")
    assert_error(resp, 400, "invalid_request_error", contains="status")


def test_key_errors(tenancy_server: Live, admin: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        admin.organization.api_keys.retrieve("apikey_missing")
    with pytest.raises(anthropic.NotFoundError):
        admin.organization.api_keys.update("apikey_missing", name="x")
    with pytest.raises(anthropic.NotFoundError):
        create_key(admin, "wrkspc_missing")
    some = create_key(admin)["id"]
    path = f"/v1/organizations/api_keys/{some}"
    assert_error(raw(tenancy_server, "POST", path, json={"status": "expired"}), 400, "invalid_request_error")
    assert_error(raw(tenancy_server, "POST", path, json={"name": ""}), 400, "invalid_request_error")
    assert_error(raw(tenancy_server, "POST", path, json={"nme": "x"}), 400, "invalid_request_error")


def test_the_default_workspace_key(tenancy_server: Live, admin: anthropic.Anthropic) -> None:
    created = create_key(admin)
    assert created["scope"] == {"type": "workspace", "workspace_id": "wrkspc_default"}
    assert created["workspace_id"] is None, "the older API's flat field is null for the default workspace"


def test_archiving_a_workspace_stops_its_keys(tenancy_server: Live, admin: anthropic.Anthropic) -> None:
    workspace_id = create_workspace(admin)
    created = create_key(admin, workspace_id)
    user = tenancy_server.client(api_key=created["key"])
    assert say(user, "ok") == "ok"
    admin.organization.workspaces.archive(workspace_id)
    with pytest.raises(anthropic.AuthenticationError):
        say(user)
    assert admin.organization.api_keys.retrieve(created["id"]).status == "archived"
    with pytest.raises(anthropic.BadRequestError):
        create_key(admin, workspace_id)


# ---------------------------------------------------------------- members


def test_workspace_members(tenancy_server: Live, admin: anthropic.Anthropic) -> None:
    workspace_id = create_workspace(admin)
    members = admin.organization.workspaces.members
    users = [f"user_{secrets.token_hex(4)}" for _ in range(3)]
    for user in users:
        added = members.add(workspace_id, user_id=user, workspace_role="workspace_developer")
        assert (added.type, added.user_id, added.workspace_id) == ("workspace_member", user, workspace_id)
    with pytest.raises(anthropic.BadRequestError):
        members.add(workspace_id, user_id=users[0], workspace_role="workspace_user")
    with pytest.raises(anthropic.BadRequestError):
        members.add(workspace_id, user_id="user_x", workspace_role="workspace_billing")  # type: ignore[arg-type]
    changed = members.update(users[1], workspace_id=workspace_id, workspace_role="workspace_admin")
    assert changed.workspace_role == "workspace_admin"
    assert members.retrieve(users[1], workspace_id=workspace_id).workspace_role == "workspace_admin"
    page = members.list(workspace_id, limit=2)
    assert [m.user_id for m in page.data] == users[:2] and page.has_more and page.last_id == users[1]
    assert [m.user_id for m in members.list(workspace_id, limit=2, after_id=users[1]).data] == users[2:]
    assert [m.user_id for m in members.list(workspace_id, limit=1)] == users
    removed = members.remove(users[0], workspace_id=workspace_id)
    assert (removed.type, removed.user_id) == ("workspace_member_deleted", users[0])
    with pytest.raises(anthropic.NotFoundError):
        members.retrieve(users[0], workspace_id=workspace_id)
    with pytest.raises(anthropic.NotFoundError):
        members.list("wrkspc_missing")
