"""Live fake-engine servers for the Skills API tests, and skill uploads to send them."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from batches.support import Live, backend_fixture, fake_settings, start_live
from conftest import serving

Upload = tuple[str, bytes, str]


def skill_md(name: str | None = "pdf-helper", description: str = "Fills PDF forms.", body: str = "# Steps\n") -> bytes:
    lines = ["---"]
    if name is not None:
        lines.append(f"name: {name}")
    lines += [f"description: {description}", "---", body]
    return "\n".join(lines).encode()


def skill_files(directory: str = "pdf-helper", **front: str | None) -> list[Upload]:
    """A two-file skill directory as ``files_from_dir`` would send it."""
    return [
        (f"{directory}/SKILL.md", skill_md(**front), "text/markdown"),  # type: ignore[arg-type]
        (f"{directory}/scripts/fill.py", b"print('filled')\n", "text/x-python"),
    ]


skills_server = backend_fixture("skills_server", "skills")


@pytest.fixture(scope="session")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Budgets small enough to cross: 3 files, 4 KiB in all."""
    settings = fake_settings(tmp_path_factory.mktemp("skills-tight"), skills_max_files=3, skills_max_upload_bytes=4096)
    yield from serving(settings, start=start_live)


@pytest.fixture()
def client(skills_server: Live) -> anthropic.Anthropic:
    return skills_server.workspace_client()
