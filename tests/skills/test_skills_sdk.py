"""The Skills API through the official SDK's ``client.beta.skills`` against a live server:
shapes and ids, versions, paging, the source filter, downloads, and workspace isolation."""

from __future__ import annotations

import io
import time
import zipfile

import anthropic
import pytest
from anthropic.types.beta import BetaSkill
from anthropic.types.beta.skills import BetaSkillVersion

from batches.support import Live

from .conftest import skill_files, skill_md

BETA = ["skills-2025-10-02"]


def test_create_retrieve_delete(client: anthropic.Anthropic) -> None:
    skill = client.beta.skills.create(files=skill_files(), display_name="PDF helper", betas=BETA)
    assert skill.id.startswith("skill_01") and skill.type == "skill"
    assert (skill.display_name, skill.source.type) == ("PDF helper", "custom")
    assert skill.latest_version_id.startswith("skillver_01")
    assert abs(skill.created_at.timestamp() - time.time()) < 60 and skill.updated_at == skill.created_at
    assert client.beta.skills.retrieve(skill.id).model_dump() == skill.model_dump()
    raw = client.beta.skills.with_raw_response.retrieve(skill.id).http_response.json()
    assert set(raw) == set(BetaSkill.model_fields), "exactly the SDK type's fields"

    version = client.beta.skills.versions.retrieve(skill.latest_version_id, skill_id=skill.id)
    assert (version.type, version.skill_id, version.name) == ("skill_version", skill.id, "pdf-helper")
    assert version.description == "Fills PDF forms."
    raw = client.beta.skills.versions.with_raw_response.retrieve(version.id, skill_id=skill.id).http_response.json()
    assert set(raw) == set(BetaSkillVersion.model_fields) | {"version", "directory"}, "plus the older beta's handles"

    deleted = client.beta.skills.delete(skill.id)
    assert (deleted.id, deleted.type) == (skill.id, "skill_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.beta.skills.retrieve(skill.id)
    with pytest.raises(anthropic.NotFoundError):
        client.beta.skills.versions.retrieve(skill.latest_version_id, skill_id=skill.id)


def test_display_name_defaults_to_the_front_matter_name(client: anthropic.Anthropic) -> None:
    skill = client.beta.skills.create(files=skill_files("somewhere", name="csv-tools"))
    assert skill.display_name == "csv-tools"
    nameless = client.beta.skills.create(files=skill_files("dir-name", name=None))
    version = client.beta.skills.versions.retrieve(nameless.latest_version_id, skill_id=nameless.id)
    assert version.name == nameless.display_name == "dir-name", "no `name`: the enclosing directory"


def test_versions(client: anthropic.Anthropic) -> None:
    skill = client.beta.skills.create(files=skill_files())
    first = skill.latest_version_id
    second = client.beta.skills.versions.create(skill.id, files=skill_files(description="Fills and signs PDF forms."))
    assert second.id != first and second.description == "Fills and signs PDF forms."
    assert client.beta.skills.retrieve(skill.id).latest_version_id == second.id
    listed = client.beta.skills.versions.list(skill.id)
    assert [v.id for v in listed] == [second.id, first], "newest first"
    timestamp = second.model_dump()["version"]
    for handle in (second.id, timestamp, "latest"):
        assert client.beta.skills.versions.retrieve(handle, skill_id=skill.id).id == second.id

    with pytest.raises(anthropic.BadRequestError, match="skill's name is 'pdf-helper'"):
        client.beta.skills.versions.create(skill.id, files=skill_files(name="other-name"))

    gone = client.beta.skills.versions.delete(second.id, skill_id=skill.id)
    assert (gone.id, gone.type) == (second.id, "skill_version_deleted")
    assert client.beta.skills.retrieve(skill.id).latest_version_id == first, "the newest left is the latest"
    with pytest.raises(anthropic.BadRequestError, match="only version"):
        client.beta.skills.versions.delete(first, skill_id=skill.id)
    with pytest.raises(anthropic.NotFoundError):
        client.beta.skills.versions.retrieve(second.id, skill_id=skill.id)


def test_download_is_a_zip_under_the_skill_name(client: anthropic.Anthropic) -> None:
    skill = client.beta.skills.create(files=skill_files("upload-dir", name="pdf-helper"))
    response = client.beta.skills.versions.download(skill.latest_version_id, skill_id=skill.id)
    archive = zipfile.ZipFile(io.BytesIO(response.read()))
    assert sorted(archive.namelist()) == ["pdf-helper/SKILL.md", "pdf-helper/scripts/fill.py"]
    assert archive.read("pdf-helper/scripts/fill.py") == b"print('filled')\n"


def test_list_pages_and_source_filter(client: anthropic.Anthropic) -> None:
    made = [client.beta.skills.create(files=skill_files(f"skill-{i}", name=f"skill-{i}")).id for i in range(3)]
    first_page = client.beta.skills.list(limit=2)
    assert [s.id for s in first_page.data] == made[::-1][:2] and first_page.next_page
    assert [s.id for s in client.beta.skills.list(limit=2)] == made[::-1], "the SDK follows next_page"
    assert [s.id for s in client.beta.skills.list(source="custom")] == made[::-1]
    assert list(client.beta.skills.list(source="anthropic")) == [], "epistula publishes no Anthropic skills"
    with pytest.raises(anthropic.BadRequestError, match="source"):
        client.beta.skills.list(source="plugins-and-more")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("pdf-helper/notes.md", b"hi", "text/plain")], "SKILL.md file is required"),
        ([("SKILL.md", skill_md(), "text/markdown")], "one top-level directory"),
        ([*skill_files(), ("pdf-helper/../../etc/passwd", b"x", "text/plain")], "`..` component"),
        ([*skill_files(), ("/etc/cron.d/x", b"x", "text/plain")], "absolute"),
        ([*skill_files(), ("other/file.txt", b"x", "text/plain")], "same top-level directory"),
        ([("a/SKILL.md", b"no front matter", "text/markdown")], "YAML front matter"),
        ([("a/SKILL.md", skill_md(name="PDF_Helper"), "text/markdown")], "lowercase letters"),
        ([("a/SKILL.md", skill_md(name="claude-helper"), "text/markdown")], "reserved word"),
        ([("a/SKILL.md", skill_md(description="<b>bold</b>"), "text/markdown")], "XML tags"),
        ([("a/SKILL.md", skill_md(description="''"), "text/markdown")], "`description` is required"),
        ([("a/SKILL.md", skill_md(description="x" * 1025), "text/markdown")], "at most 1024"),
    ],
)
def test_invalid_uploads_are_refused(tight_server: Live, files: list[tuple[str, bytes, str]], message: str) -> None:
    client = tight_server.workspace_client()  # storage is never reached: one backend is enough
    with pytest.raises(anthropic.BadRequestError, match=message) as caught:
        client.beta.skills.create(files=files)
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert list(client.beta.skills.list()) == [], "nothing is stored"


def test_budgets(tight_server: Live) -> None:
    client = tight_server.workspace_client()
    many = [*skill_files(), *[(f"pdf-helper/f{i}.txt", b"x", "text/plain") for i in range(2)]]
    with pytest.raises(anthropic.BadRequestError, match="files"):
        client.beta.skills.create(files=many)
    big = [*skill_files(), ("pdf-helper/big.bin", b"\0" * 5000, "application/octet-stream")]
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.beta.skills.create(files=big)
    assert caught.value.status_code == 413
    huge = [*skill_files(), ("pdf-helper/huge.bin", b"\0" * 1_200_000, "application/octet-stream")]
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.beta.skills.create(files=huge)
    assert caught.value.status_code == 413, "refused by content-length, before the body is read"
    with pytest.raises(anthropic.BadRequestError, match="display_name"):
        client.beta.skills.create(files=skill_files(), display_name="x" * 256)
    assert list(client.beta.skills.list()) == []


def test_skills_are_invisible_to_other_workspaces(skills_server: Live) -> None:
    owner, other = skills_server.workspace_client(), skills_server.workspace_client()
    skill = owner.beta.skills.create(files=skill_files())
    version = skill.latest_version_id
    assert skill.id not in [s.id for s in other.beta.skills.list()]
    for call in (
        lambda: other.beta.skills.retrieve(skill.id),
        lambda: other.beta.skills.delete(skill.id),
        lambda: other.beta.skills.versions.list(skill.id),
        lambda: other.beta.skills.versions.retrieve(version, skill_id=skill.id),
        lambda: other.beta.skills.versions.download(version, skill_id=skill.id),
        lambda: other.beta.skills.versions.create(skill.id, files=skill_files()),
        lambda: other.beta.skills.versions.delete(version, skill_id=skill.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert owner.beta.skills.retrieve(skill.id).latest_version_id == version, "untouched for its owner"
