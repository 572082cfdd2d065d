"""Hugging Face models in Hugging Face's own cache (``$HF_HUB_CACHE``, ``HF_ENDPOINT`` mirrors).

The layout is huggingface_hub's, so files pulled here serve ``hf_hub_download`` and the
other way round: ``models--<org>--<repo>/blobs/<sha256>`` holds the bytes,
``snapshots/<commit>/<path>`` links to them, ``refs/<revision>`` names the commit. Listing
the repository and each file's metadata go through huggingface_hub (its endpoint, token and
headers); the bytes go through :mod:`.download`, which resumes and verifies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx2  # huggingface_hub's HTTP client: its transport errors
from filelock import FileLock
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils._headers import build_hf_headers
from pydantic import BaseModel

from .download import Progress, fetch
from .errors import HubError, RefError
from .refs import HubRef, Selection, is_first_part, is_projector, select

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class HubModel(BaseModel):
    """A model's files in the cache: the parts (paths in the snapshot) and its projector."""

    ref: str
    repo_id: str
    commit: str
    parts: list[Path]
    projector: Path | None = None

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.parts)


def cache_root() -> Path:
    return Path(constants.HF_HUB_CACHE)


def repo_dir(repo_id: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / ("models--" + repo_id.replace("/", "--"))


def _snapshot_files(snapshot: Path) -> list[str]:
    return sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file())


def _commit_of(repo: Path, revision: str) -> str | None:
    ref_file = repo / "refs" / revision
    if ref_file.is_file():
        return ref_file.read_text().strip()
    return revision if _COMMIT.match(revision) and (repo / "snapshots" / revision).is_dir() else None


def _model(ref: HubRef, commit: str, snapshot: Path, selection: Selection) -> HubModel:
    return HubModel(
        ref=str(ref),
        repo_id=ref.repo_id,
        commit=commit,
        parts=[snapshot / p for p in selection.parts],
        projector=snapshot / selection.mmproj if selection.mmproj else None,
    )


def locate(ref: HubRef, root: Path | None = None) -> HubModel | None:
    """The cached files of ``ref`` (no network), or None when any is missing."""
    repo = repo_dir(ref.repo_id, root)
    commit = _commit_of(repo, ref.revision)
    if commit is None:
        return None
    snapshot = repo / "snapshots" / commit
    try:
        selection = select(ref, _snapshot_files(snapshot))
    except RefError:
        return None
    model = _model(ref, commit, snapshot, selection)
    files = [*model.parts, *([model.projector] if model.projector else [])]
    return model if all(f.is_file() for f in files) else None


def endpoint() -> str:
    """``HF_ENDPOINT`` (a mirror), else huggingface.co; read on each use."""
    return constants.ENDPOINT


def _tree(ref: HubRef) -> dict[str, RepoFile]:
    try:
        entries = HfApi(endpoint=endpoint()).list_repo_tree(ref.repo_id, revision=ref.revision, recursive=True)
        return {entry.path: entry for entry in entries if isinstance(entry, RepoFile)}
    except (HfHubHTTPError, httpx2.HTTPError) as exc:
        raise HubError(f"{ref}: could not list the repository at {endpoint()}: {exc}") from exc


def plan(ref: HubRef) -> tuple[Selection, dict[str, RepoFile]]:
    """The files ``ref`` needs, chosen from the repository's listing (asks the hub)."""
    tree = _tree(ref)
    return select(ref, tree), tree


def pull(ref: HubRef, progress: Progress, root: Path | None = None) -> HubModel:
    """Download what of ``ref`` is not cached yet, resuming partial files; returns the model."""
    selection, tree = plan(ref)
    repo = repo_dir(ref.repo_id, root)
    commit = ""
    for path in [*selection.parts, *([selection.mmproj] if selection.mmproj else [])]:
        url = hf_hub_url(ref.repo_id, path, revision=ref.revision, endpoint=endpoint())
        try:
            meta = get_hf_file_metadata(url, endpoint=endpoint())
        except (HfHubHTTPError, httpx2.HTTPError) as exc:
            raise HubError(f"{ref}: {path}: {exc}") from exc
        if not meta.commit_hash or not meta.etag:
            raise HubError(f"{url}: no commit or etag in the answer (is HF_ENDPOINT a Hugging Face hub?)")
        commit = meta.commit_hash
        entry = tree[path]
        sha256 = entry.lfs.sha256 if entry.lfs else meta.etag if _SHA256.match(meta.etag) else None
        blob = repo / "blobs" / (sha256 or meta.etag)
        headers = build_hf_headers() if _same_host(url, meta.location) else {}
        size = entry.lfs.size if entry.lfs else meta.size
        lock = repo.parent / ".locks" / repo.name / f"{blob.name}.lock"  # where huggingface_hub locks
        lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(lock):  # a second pull of the same file waits, then finds it done
            fetch(meta.location, blob, size=size, sha256=sha256, headers=headers, progress=progress, name=path)
        _link(repo / "snapshots" / commit / path, blob)
    if ref.revision != commit:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref.revision).write_text(commit)
    return _model(ref, commit, repo / "snapshots" / commit, selection)


def _same_host(url: str, location: str) -> bool:
    return urlparse(url).netloc == urlparse(location).netloc


def _link(pointer: Path, blob: Path) -> None:
    """``snapshots/<commit>/<path>`` -> ``../../blobs/<sha>`` (relative, as huggingface_hub links)."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    pointer.symlink_to(Path(*[".."] * (len(pointer.relative_to(blob.parent.parent).parts) - 1), "blobs", blob.name))


def list_models(root: Path | None = None) -> Iterator[HubModel]:
    """Every GGUF model in the cache (projectors belong to the model beside them)."""
    base = root or cache_root()
    for repo in sorted(base.glob("models--*--*")):
        repo_id = repo.name.removeprefix("models--").replace("--", "/", 1)
        named = {p.read_text().strip(): p.name for p in (repo / "refs").glob("*") if p.is_file()}
        for snapshot in sorted((repo / "snapshots").glob("*")):
            files = _snapshot_files(snapshot)
            revision = named.get(snapshot.name, snapshot.name)
            for first in filter(is_first_part, _models(files)):
                model = locate(HubRef(repo_id=repo_id, revision=revision, filename=first), root)
                if model is not None:
                    yield model


def _models(files: list[str]) -> list[str]:
    return [n for n in files if n.lower().endswith(".gguf") and not is_projector(n)]


def remove(model: HubModel, root: Path | None = None) -> list[Path]:
    """Delete ``model``'s files from the cache (blobs no other link uses); returns the links removed.
    The projector goes only with the last model of its snapshot."""
    snapshot = model.parts[0].parent
    while snapshot.parent.name != "snapshots":
        snapshot = snapshot.parent
    removed = list(model.parts)
    remaining = set(_models(_snapshot_files(snapshot))) - {p.relative_to(snapshot).as_posix() for p in removed}
    if model.projector and not remaining:
        removed.append(model.projector)
    repo = snapshot.parent.parent
    blobs = {p.resolve() for p in removed if p.is_symlink()}
    for path in removed:
        path.unlink(missing_ok=True)
    still_used = {p.resolve() for p in repo.joinpath("snapshots").rglob("*") if p.is_symlink()}
    for blob in blobs - still_used:
        blob.unlink(missing_ok=True)
    _prune(snapshot)
    return removed


def _prune(snapshot: Path) -> None:
    """Remove empty folders of the snapshot, the snapshot, and the repository when nothing is left."""
    for folder in sorted((p for p in snapshot.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
    if snapshot.is_dir() and not any(snapshot.iterdir()):
        snapshot.rmdir()
        repo = snapshot.parent.parent
        for ref_file in (repo / "refs").glob("*"):
            if ref_file.read_text().strip() == snapshot.name:
                ref_file.unlink()
    repo = snapshot.parent.parent
    if not any((repo / "snapshots").glob("*")):
        for path in sorted(repo.rglob("*"), key=lambda p: -len(p.parts)):
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
        repo.rmdir()
