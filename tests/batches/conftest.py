"""A live fake-engine server per storage backend (SQLite always, PostgreSQL when
``EPISTULA_TEST_POSTGRES_URL`` is set), shared by the batch SDK tests."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from .support import BACKENDS, Live, backend_server


@pytest.fixture(scope="session", params=BACKENDS)
def batch_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with backend_server(request.param, tmp_path_factory.mktemp(f"batches-{request.param}")) as live:
        yield live


@pytest.fixture()
def workspace_client(batch_server: Live) -> anthropic.Anthropic:
    """A client whose key belongs to a workspace of its own (lists see only this test's batches)."""
    return batch_server.workspace_client()


@pytest.fixture()
def client(batch_server: Live) -> anthropic.Anthropic:
    return batch_server.client()
