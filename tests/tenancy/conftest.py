"""A live fake-engine server per storage backend with an admin key, and helpers that
hand out workspaces and keys through the Admin API (as a platform team would)."""

from __future__ import annotations

import secrets
from typing import Any

import anthropic
import pytest

from batches.support import Live, backend_fixture

ADMIN_KEY = "sk-admin-test"


tenancy_server = backend_fixture("tenancy_server", "tenancy", admin_api_key=ADMIN_KEY)


@pytest.fixture()
def admin(tenancy_server: Live) -> anthropic.Anthropic:
    """The SDK with the admin key: ``admin.organization.*``."""
    return tenancy_server.client(api_key=ADMIN_KEY)


def create_workspace(admin: anthropic.Anthropic, name: str | None = None) -> str:
    return admin.organization.workspaces.create(name=name or "ws-" + secrets.token_hex(4)).id


def create_key(admin: anthropic.Anthropic, workspace_id: str | None = None, name: str = "test") -> dict[str, Any]:
    """``POST /v1/organizations/api_keys`` (epistula's extension): the key object and ``key``."""
    body: dict[str, Any] = {"name": name}
    if workspace_id is not None:
        body["workspace_id"] = workspace_id
    created: dict[str, Any] = admin.post("/v1/organizations/api_keys", body=body, cast_to=object)
    return created


@pytest.fixture()
def tenant(tenancy_server: Live, admin: anthropic.Anthropic) -> tuple[str, anthropic.Anthropic]:
    """A fresh workspace and an SDK client whose key belongs to it."""
    workspace_id = create_workspace(admin)
    key = create_key(admin, workspace_id)
    return workspace_id, tenancy_server.client(api_key=key["key"])
