"""``--model ollama:<name>:<tag>`` serves a model from a store laid out as Ollama writes it,
from the blob itself: nothing is copied."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from epistula.models import ollama
from epistula.models.catalog import resolve_model_path
from epistula.models.errors import OllamaError
from epistula.models.refs import parse_ref
from processes import ServeProcess

from .hub_double import sha256_of
from .paths import SMOLLM2_GGUF


def write_blob(root: Path, data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (root / "blobs" / digest.replace(":", "-")).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def ollama_store(root: Path) -> Path:
    """``ollama pull smollm2:135m`` as it lands on disk; the model blob is a hard link to
    (or, across file systems, a symbolic link to) the real GGUF. Returns the blob's path."""
    (root / "blobs").mkdir(parents=True)
    digest = "sha256:" + sha256_of(SMOLLM2_GGUF)
    blob = root / "blobs" / digest.replace(":", "-")
    try:
        os.link(SMOLLM2_GGUF, blob)
    except OSError:
        blob.symlink_to(SMOLLM2_GGUF)
    template = write_blob(root, b"{{ .Prompt }}")
    params = write_blob(root, json.dumps({"stop": ["<|im_end|>"]}).encode())
    config = write_blob(root, json.dumps({"model_format": "gguf", "model_family": "llama"}).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", **config},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": digest, "size": SMOLLM2_GGUF.stat().st_size},
            {"mediaType": "application/vnd.ollama.image.template", **template},
            {"mediaType": "application/vnd.ollama.image.params", **params},
        ],
    }
    path = root / "manifests" / "registry.ollama.ai" / "library" / "smollm2" / "135m"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(manifest))
    return blob


def test_refs_name_manifests() -> None:
    assert str(parse_ref("ollama:qwen2.5-coder:7b")) == "ollama:qwen2.5-coder:7b"
    ref = parse_ref("ollama:qwen2.5-coder")
    assert isinstance(ref, ollama.OllamaRef) and ref.tag == "latest"
    path = ollama.manifest_path(Path("/m"), ref)
    assert path == Path("/m/manifests/registry.ollama.ai/library/qwen2.5-coder/latest")
    user = parse_ref("ollama:someone/model:q4")
    assert isinstance(user, ollama.OllamaRef) and (user.namespace, user.name, user.tag) == ("someone", "model", "q4")


def test_the_store_is_read_in_place(tmp_path: Path) -> None:
    blob = ollama_store(tmp_path)
    ref = parse_ref("ollama:smollm2:135m")
    assert isinstance(ref, ollama.OllamaRef)
    found = ollama.locate(ref, tmp_path)
    assert found.model == blob and found.projector is None
    assert [m.ref for m in ollama.list_models(tmp_path)] == ["ollama:smollm2:135m"]
    missing = parse_ref("ollama:smollm2:360m")
    assert isinstance(missing, ollama.OllamaRef)
    with pytest.raises(OllamaError, match="ollama pull"):
        ollama.locate(missing, tmp_path)


@pytest.mark.model
def test_an_ollama_model_serves_without_a_copy(tmp_path: Path) -> None:
    store = tmp_path / "ollama"
    blob = ollama_store(store)
    env = {"OLLAMA_MODELS": str(store), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    server = ServeProcess(tmp_path / "serve", "--engine", "llamacpp", "--model", "ollama:smollm2:135m", env=env)
    try:
        client = server.client(default_headers={"anthropic-version": "2023-06-01"})
        assert [m.id for m in client.models.list(limit=1).data] == ["smollm2:135m"]
        reply = client.messages.create(
            model="smollm2:135m",
            max_tokens=8,
            messages=[{"role": "user", "content": "Say hello."}],
            extra_body={"temperature": 0},  # greedy
        )
        assert reply.content and reply.content[0].type == "text" and reply.content[0].text.strip()
        # llama.cpp memory-maps the blob itself (same inode), and no copy was written anywhere
        maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
        inode = os.stat(blob).st_ino
        assert any(line.split()[4] == str(inode) for line in maps.splitlines() if len(line.split()) >= 6)
        big = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_size > 1 << 20]
        assert all(os.stat(p).st_ino == inode for p in big), big
    finally:
        server.stop()


def test_a_config_path_may_be_a_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[[models]] path = "ollama:..."`` resolves to the blob; a hub model must be pulled first."""
    blob = ollama_store(tmp_path / "ollama")
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve_model_path("ollama:smollm2:135m") == blob
    with pytest.raises(FileNotFoundError, match="epistula models pull"):
        resolve_model_path(f"hf.co/org/absent-{tmp_path.name}:Q4_K_M")
