"""Isolation across workspaces: batches, files and cached prompts belong to the key's
workspace; another workspace's key gets 404 ``not_found_error`` for them (never their
contents), and its prompt-cache lookups never hit another workspace's entries."""

from __future__ import annotations

import io
from collections.abc import Callable

import anthropic
import httpx
import pytest

from batches.support import Live, wait_ended
from conftest import assert_error

from .conftest import ADMIN_KEY, create_key, create_workspace

Tenant = tuple[str, anthropic.Anthropic]
MODEL = "claude-haiku-4-5"


def _key(client: anthropic.Anthropic) -> str:
    assert client.api_key is not None
    return client.api_key


def _not_found(resource_id: str, *operations: Callable[[str], object]) -> None:
    """Each SDK operation on another workspace's ``resource_id`` answers 404."""
    for operation in operations:
        with pytest.raises(anthropic.NotFoundError):
            operation(resource_id)


def _raw_get(server: Live, client: anthropic.Anthropic, path: str) -> httpx.Response:
    """``GET path`` with ``client``'s key, for the routes the SDK decodes (results, content)."""
    return httpx.get(f"{server.base_url}{path}", headers={"x-api-key": _key(client), "anthropic-version": "2023-06-01"})


def test_batches_are_invisible_to_other_workspaces(tenancy_server: Live, tenant: Tenant) -> None:
    (_, owner), (_, other) = tenant, _another(tenancy_server)
    batch = owner.messages.batches.create(
        requests=[
            {"custom_id": "secret", "params": {"model": MODEL, "max_tokens": 8, "messages": [_user("#say:private")]}}
        ]
    )
    wait_ended(owner, batch.id)
    batches = other.messages.batches
    _not_found(batch.id, batches.retrieve, batches.cancel, batches.delete)
    assert batch.id not in [b.id for b in batches.list(limit=1000)]
    resp = _raw_get(tenancy_server, other, f"/v1/messages/batches/{batch.id}/results")
    payload = assert_error(resp, 404, "not_found_error")
    assert "private" not in resp.text and "secret" not in str(payload)
    results = list(owner.messages.batches.results(batch.id))
    assert [r.custom_id for r in results] == ["secret"], "the owner still sees everything"


def test_files_are_invisible_to_other_workspaces(tenancy_server: Live, tenant: Tenant) -> None:
    (_, owner), (_, other) = tenant, _another(tenancy_server)
    uploaded = owner.beta.files.upload(file=("notes.txt", io.BytesIO(b"top secret notes"), "text/plain"))
    _not_found(uploaded.id, other.beta.files.retrieve_metadata, other.beta.files.delete)
    assert uploaded.id not in [f.id for f in other.beta.files.list(limit=1000)]
    resp = _raw_get(tenancy_server, other, f"/v1/files/{uploaded.id}/content")
    assert_error(resp, 404, "not_found_error")
    assert b"top secret" not in resp.content
    with pytest.raises(anthropic.NotFoundError):  # nor can a message read it
        other.beta.messages.create(
            model=MODEL,
            max_tokens=8,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "document", "source": {"type": "file", "file_id": uploaded.id}},
                        {"type": "text", "text": "#say:x"},
                    ],
                }
            ],
            betas=["files-api-2025-04-14"],
        )
    assert owner.beta.files.retrieve_metadata(uploaded.id).filename == "notes.txt"


def test_cached_prompts_are_per_workspace(tenancy_server: Live, tenant: Tenant) -> None:
    (_, owner), (_, other) = tenant, _another(tenancy_server)
    system = [{"type": "text", "text": "Shared context. " * 200, "cache_control": {"type": "ephemeral"}}]

    def usage(client: anthropic.Anthropic) -> anthropic.types.Usage:
        return client.messages.create(model=MODEL, max_tokens=4, system=system, messages=[_user("#say:ok")]).usage  # type: ignore[arg-type]

    first = usage(owner)
    assert (first.cache_creation_input_tokens or 0) > 0 and not first.cache_read_input_tokens
    assert (usage(owner).cache_read_input_tokens or 0) > 0, "the owner's second request reads its cache"
    foreign = usage(other)
    assert not foreign.cache_read_input_tokens, "another workspace never reads it"
    assert (foreign.cache_creation_input_tokens or 0) > 0
    assert (usage(owner).cache_read_input_tokens or 0) > 0


def test_keys_of_the_same_workspace_share_its_resources(tenancy_server: Live, tenant: Tenant) -> None:
    workspace_id, owner = tenant
    admin = tenancy_server.client(api_key=ADMIN_KEY)
    sibling = tenancy_server.client(api_key=create_key(admin, workspace_id)["key"])
    uploaded = owner.beta.files.upload(file=("a.txt", io.BytesIO(b"shared"), "text/plain"))
    assert sibling.beta.files.retrieve_metadata(uploaded.id).id == uploaded.id


def _user(text: str) -> anthropic.types.MessageParam:
    return {"role": "user", "content": text}


def _another(live: Live) -> Tenant:
    admin = live.client(api_key=ADMIN_KEY)
    workspace_id = create_workspace(admin)
    return workspace_id, live.client(api_key=create_key(admin, workspace_id)["key"])
