"""Issue 11 #15: an archived workspace's batches stop: canceled when it is archived
through the Admin API, and at claim time when it was archived behind the server's back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from conftest import LiveServer, server_fixture

ADMIN_KEY = "sk-epi-admin01-hardening-batches"
ITEMS = 12


server = server_fixture("server", "owners", admin_api_key=ADMIN_KEY, batch_concurrency=1)


def _admin(live: LiveServer, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"x-api-key": ADMIN_KEY, "anthropic-version": "2023-06-01"}
    resp = httpx.post(f"{live.base_url}/v1/organizations{path}", json=body or {}, headers=headers)
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


def _workspace_with_batch(live: LiveServer, name: str) -> tuple[str, str]:
    workspace = _admin(live, "/workspaces", {"name": name})["id"]
    key = _admin(live, "/api_keys", {"name": name, "workspace_id": workspace})["key"]
    requests = [
        {
            "custom_id": f"r{i}",
            "params": {
                "model": "claude-haiku-4-5",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": "#slow:40"}],
            },
        }
        for i in range(ITEMS)
    ]
    created = httpx.post(
        f"{live.base_url}/v1/messages/batches",
        json={"requests": requests},
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
    )
    assert created.status_code == 200, created.text
    return workspace, created.json()["id"]


def _ended(live: LiveServer, workspace: str, batch_id: str) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = asyncio.run(live.state.batches.get(workspace, batch_id))
        if record.processing_status == "ended":
            return record
        time.sleep(0.1)
    raise AssertionError("the batch never ended")


def test_archiving_through_the_admin_api_cancels_its_batches(server: LiveServer) -> None:
    workspace, batch_id = _workspace_with_batch(server, "archived-by-api")
    _admin(server, f"/workspaces/{workspace}/archive")
    counts = _ended(server, workspace, batch_id).counts
    assert counts.canceled >= ITEMS - 2
    assert counts.succeeded + counts.canceled + counts.errored == ITEMS


def test_batches_of_a_workspace_archived_elsewhere_stop_at_claim_time(server: LiveServer) -> None:
    workspace, batch_id = _workspace_with_batch(server, "archived-by-cli")
    server.state.keys.workspaces.archive(workspace)  # what `epistula workspaces archive` does
    counts = _ended(server, workspace, batch_id).counts
    assert counts.canceled >= ITEMS - 3
    assert counts.succeeded + counts.canceled + counts.errored == ITEMS


def _key_with_batch(live: LiveServer, name: str, message: dict[str, str] | None = None) -> tuple[str, str, str]:
    workspace = _admin(live, "/workspaces", {"name": name})["id"]
    created = _admin(live, "/api_keys", {"name": name, "workspace_id": workspace})
    requests = [
        {"custom_id": f"r{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [message or SLOW]}}
        for i in range(ITEMS)
    ]
    resp = httpx.post(
        f"{live.base_url}/v1/messages/batches",
        json={"requests": requests},
        headers={"x-api-key": created["key"], "anthropic-version": "2023-06-01"},
    )
    assert resp.status_code == 200, resp.text
    return workspace, created["id"], resp.json()["id"]


SLOW = {"role": "user", "content": "#slow:40"}


@pytest.mark.parametrize("status", ["inactive", "archived"])
def test_batches_of_a_disabled_key_stop(server: LiveServer, status: str) -> None:
    workspace, key_id, batch_id = _key_with_batch(server, f"key-{status}")
    _admin(server, f"/api_keys/{key_id}", {"status": status})
    counts = _ended(server, workspace, batch_id).counts
    assert counts.canceled >= ITEMS - 3
    assert counts.succeeded + counts.canceled + counts.errored == ITEMS


def test_a_batch_of_an_active_key_runs_to_the_end(server: LiveServer) -> None:
    workspace, _, batch_id = _key_with_batch(server, "key-active", {"role": "user", "content": "#say:ok"})
    assert _ended(server, workspace, batch_id).counts.succeeded == ITEMS
