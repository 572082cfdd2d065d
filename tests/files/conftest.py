"""Live fake-engine servers for the Files API tests."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from batches.support import BACKENDS, Live, backend_server, fake_settings, start_live


@pytest.fixture(scope="session", params=BACKENDS)
def files_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Default settings: uploads are not downloadable, as on the real API."""
    with backend_server(request.param, tmp_path_factory.mktemp(f"files-{request.param}")) as live:
        yield live


@pytest.fixture(scope="session")
def download_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """``files_downloadable=True`` and a 1 KiB file limit (the 413 path without 500 MB uploads)."""
    settings = fake_settings(tmp_path_factory.mktemp("files-dl"), files_downloadable=True, max_file_bytes=1024)
    live = start_live(settings)
    yield live
    live.stop()


@pytest.fixture()
def client(files_server: Live) -> anthropic.Anthropic:
    return files_server.client()


@pytest.fixture()
def workspace_client(files_server: Live) -> anthropic.Anthropic:
    return files_server.workspace_client()
