"""The Hugging Face cache as huggingface_hub lays it out: what is listed, found and removed."""

from __future__ import annotations

from pathlib import Path

from epistula.models import hub
from epistula.models.refs import HubRef

REPO = "org/repo"
COMMIT = "c" * 40


def cached(root: Path, files: dict[str, bytes]) -> Path:
    """A snapshot of ``files`` (path -> bytes), each a link to its blob; returns the snapshot."""
    repo = hub.repo_dir(REPO, root)
    snapshot = repo / "snapshots" / COMMIT
    for index, (name, data) in enumerate(files.items()):
        blob = repo / "blobs" / f"{index:064x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        hub._link(snapshot / name, blob)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


def test_listing_finding_and_removing(tmp_path: Path) -> None:
    snapshot = cached(
        tmp_path,
        {
            "a-Q4_K_M.gguf": b"a",
            "b/big-Q8_0-00001-of-00002.gguf": b"b1",
            "b/big-Q8_0-00002-of-00002.gguf": b"b2",
            "c-Q2_K-00001-of-00002.gguf": b"half of a split model",
            "mmproj-f16.gguf": b"p",
            "README.md": b"r",
        },
    )
    listed = {m.ref: m for m in hub.list_models(tmp_path)}
    assert sorted(listed) == ["hf.co/org/repo/a-Q4_K_M.gguf", "hf.co/org/repo/b/big-Q8_0-00001-of-00002.gguf"]
    big = listed["hf.co/org/repo/b/big-Q8_0-00001-of-00002.gguf"]
    assert [p.read_bytes() for p in big.parts] == [b"b1", b"b2"] and big.size_bytes == 4
    assert big.projector == snapshot / "mmproj-f16.gguf"

    quant = hub.locate(HubRef(repo_id=REPO, quant="Q4_K_M"), tmp_path)
    assert quant is not None and quant.parts == [snapshot / "a-Q4_K_M.gguf"]
    assert hub.locate(HubRef(repo_id=REPO, quant="Q2_K"), tmp_path) is None  # a part is missing
    assert hub.locate(HubRef(repo_id="org/other", quant="Q4_K_M"), tmp_path) is None

    assert hub.remove(big, tmp_path) == big.parts  # the projector stays with the other model
    assert not (snapshot / "b").exists() and (snapshot / "mmproj-f16.gguf").is_file()
    assert len(list((snapshot.parent.parent / "blobs").iterdir())) == 4
    (snapshot / "c-Q2_K-00001-of-00002.gguf").unlink()
    (snapshot / "README.md").unlink()
    assert hub.remove(quant, tmp_path) == [*quant.parts, snapshot / "mmproj-f16.gguf"]  # the last model
    assert not hub.repo_dir(REPO, tmp_path).exists()  # nothing left: the repository goes
