"""Live fake-engine servers for the Files API tests."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from batches.support import Live, backend_fixture, fake_settings, start_live
from conftest import serving

files_server = backend_fixture("files_server", "files")
"""Default settings: uploads are not downloadable, as on the real API."""


@pytest.fixture(scope="session")
def download_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """``files_downloadable=True`` and a 1 KiB file limit (the 413 path without 500 MB uploads)."""
    settings = fake_settings(tmp_path_factory.mktemp("files-dl"), files_downloadable=True, max_file_bytes=1024)
    yield from serving(settings, start=start_live)


@pytest.fixture()
def client(files_server: Live) -> anthropic.Anthropic:
    return files_server.client()


@pytest.fixture()
def workspace_client(files_server: Live) -> anthropic.Anthropic:
    return files_server.workspace_client()
