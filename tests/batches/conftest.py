"""A live fake-engine server per storage backend (SQLite always, PostgreSQL when
``EPISTULA_TEST_POSTGRES_URL`` is set), shared by the batch SDK tests."""

from __future__ import annotations

import anthropic
import pytest

from .support import Live, backend_fixture

batch_server = backend_fixture("batch_server", "batches")


@pytest.fixture()
def workspace_client(batch_server: Live) -> anthropic.Anthropic:
    """A client whose key belongs to a workspace of its own (lists see only this test's batches)."""
    return batch_server.workspace_client()


@pytest.fixture()
def client(batch_server: Live) -> anthropic.Anthropic:
    return batch_server.client()
