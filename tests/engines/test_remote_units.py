"""Pure parts of the remote and vLLM engines: prefix routing, upstream specs, token pieces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from epistula.engines.remote.dialects import Chunk, LlamaServer, parse_upstream
from epistula.engines.remote.routing import PrefixRouter, block_keys
from epistula.engines.remote.upstream import json_object
from epistula.engines.vllm.pieces import PieceTable


@dataclass
class Node:
    available: bool = True
    in_flight: int = 0
    served: int = 0


def test_block_keys_chain_prefixes_within_a_namespace() -> None:
    a = block_keys("ns", list(range(10)), 4)
    assert len(a) == 2  # whole blocks only
    assert block_keys("ns", [*range(8), 99], 4) == a  # same prefix blocks, same keys
    assert block_keys("ns", [0, 1, 2, 3, 9, 9, 9, 9], 4)[0] == a[0] != block_keys("ns", [0, 1, 2, 3, 9, 9, 9, 9], 4)[1]
    assert block_keys("other", list(range(10)), 4)[0] != a[0]


def test_holder_wins_unless_down_or_much_busier() -> None:
    router = PrefixRouter(block_tokens=4, load_slack=2)
    nodes = [Node(), Node(), Node()]
    prompt = list(range(12))
    router.record("ns", prompt, 2)
    assert router.route("ns", prompt, nodes).order[0] == 2
    nodes[2].in_flight = 3
    route = router.route("ns", prompt, nodes)
    assert not route.hit and route.order[0] != 2
    nodes[2].in_flight, nodes[2].available = 0, False
    assert router.route("ns", prompt, nodes).order[-1] == 2
    router.forget(2)
    nodes[2].available = True
    assert not router.route("ns", prompt, nodes).hit
    assert (router.lookups, router.hits) == (4, 1)


def test_the_key_table_is_bounded() -> None:
    router = PrefixRouter(block_tokens=1, max_keys=5)
    router.record("ns", list(range(20)), 0)
    assert len(router._owner) == 5


def test_upstream_specs_name_their_dialect() -> None:
    assert parse_upstream("http://a:8080/") == ("llama", "http://a:8080")
    assert parse_upstream("vllm+http://b:8000") == ("openai", "http://b:8000")
    assert parse_upstream("sglang+https://c") == ("openai", "https://c")


def test_llama_events_parse_to_chunks() -> None:
    """A token event takes the short path; progress, timings and the stop event the full one."""
    parse = LlamaServer().parse
    token = b'{"index":0,"content":" \\"tokens\\":[9]","tokens":[5432],"stop":false,"tokens_evaluated":28}'
    assert parse(json_object(token)) == Chunk(tokens=(5432,))
    progress = b'{"tokens":[0],"stop":false,"prompt_progress":{"total":28,"cache":20,"processed":20}}'
    assert parse(json_object(progress)) == Chunk(cached=20, progress=(20, 28))
    timed = b'{"tokens":[7,8],"stop":false,"timings":{"cache_n":3},"tokens_evaluated":28}'
    assert parse(json_object(timed)) == Chunk(tokens=(7, 8), cached=3, prompt_tokens=28)
    stop = b'{"tokens":[],"stop":true,"stop_type":"limit","timings":{"cache_n":3},"tokens_evaluated":28}'
    assert parse(json_object(stop)) == Chunk(cached=3, finish="max_tokens", prompt_tokens=28)
    for bad in (b"[1]", b'{"a":1} x', b"{", b"\xff"):
        with pytest.raises(ValueError):
            json_object(bad)


class ByteLevelTokenizer:
    """The two methods PieceTable uses, with a GPT-2 style (byte-level BPE) vocabulary."""

    all_special_ids = [0]
    vocab = {0: "<|endoftext|>", 1: "Ġa", 2: "Hello", 3: "Ċ", 4: "Ã©", 5: "ðŁ", 6: "<tool_call>"}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [1]

    def convert_ids_to_tokens(self, ids: Any) -> Any:
        return [self.vocab[i] for i in ids] if isinstance(ids, list) else self.vocab[ids]


class SentencePieceTokenizer(ByteLevelTokenizer):
    vocab = {0: "</s>", 1: "▁a", 2: "<0x0A>", 3: "▁Hello"}


def test_byte_level_pieces_are_the_raw_bytes() -> None:
    pieces = PieceTable(ByteLevelTokenizer())
    assert [pieces(i) for i in range(7)] == [b"", b" a", b"Hello", b"\n", "é".encode(), b"\xf0\x9f", b"<tool_call>"]


def test_sentencepiece_pieces_use_spaces_and_byte_fallback() -> None:
    pieces = PieceTable(SentencePieceTokenizer())
    assert [pieces(i) for i in range(4)] == [b"", b" a", b"\n", b" Hello"]
