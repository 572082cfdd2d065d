"""Which files of a Hugging Face repository a reference means."""

from __future__ import annotations

import pytest

from epistula.models.errors import RefError
from epistula.models.refs import HubRef, parse_ref, select

REPO = [
    "README.md",
    "model-Q4_K_M.gguf",
    "model-Q4_K_S.gguf",
    "model-Q8_0.gguf",
    "big/model-Q6_K-00001-of-00002.gguf",
    "big/model-Q6_K-00002-of-00002.gguf",
    "mmproj-model-f16.gguf",
    "mmproj-model-Q8_0.gguf",
]


def hub(text: str) -> HubRef:
    ref = parse_ref(text)
    assert isinstance(ref, HubRef)
    return ref


def test_parsing() -> None:
    assert hub("hf.co/org/repo:Q8_0") == HubRef(repo_id="org/repo", quant="Q8_0")
    assert hub("huggingface.co/org/repo/sub/x.gguf") == HubRef(repo_id="org/repo", filename="sub/x.gguf")
    assert hub("hf.co/org/repo@v2:Q4_K_M").revision == "v2"
    assert str(hub("hf.co/org/repo@v2:Q4_K_M")) == "hf.co/org/repo@v2:Q4_K_M"
    assert parse_ref("./models/x.gguf") is None
    with pytest.raises(RefError):
        parse_ref("hf.co/org")
    with pytest.raises(RefError):
        parse_ref("hf.co/org/repo/config.json")


def test_quantization_picks_the_file_and_its_projector() -> None:
    chosen = select(hub("hf.co/org/repo:q4_k_m"), REPO)  # case does not matter
    assert chosen.parts == ["model-Q4_K_M.gguf"]
    assert chosen.mmproj == "mmproj-model-f16.gguf"
    assert select(hub("hf.co/org/repo:Q8_0"), REPO).mmproj == "mmproj-model-Q8_0.gguf"
    assert select(hub("hf.co/org/repo"), REPO).parts == ["model-Q4_K_M.gguf"]  # the default quant
    with pytest.raises(RefError, match="no Q4_K"):
        select(hub("hf.co/org/repo:Q4_K"), REPO)  # a prefix of Q4_K_M is not Q4_K_M


def test_split_models_come_whole() -> None:
    parts = ["big/model-Q6_K-00001-of-00002.gguf", "big/model-Q6_K-00002-of-00002.gguf"]
    assert select(hub("hf.co/org/repo:Q6_K"), REPO).parts == parts
    assert select(hub("hf.co/org/repo/big/model-Q6_K-00002-of-00002.gguf"), REPO).parts == parts
    with pytest.raises(RefError, match="2 parts expected, 1 found"):
        select(hub("hf.co/org/repo:Q6_K"), REPO[:5])


def test_a_repository_with_one_model_needs_no_quantization() -> None:
    assert select(hub("hf.co/org/repo"), ["x.Q5_K_M.gguf", "README.md"]).parts == ["x.Q5_K_M.gguf"]
