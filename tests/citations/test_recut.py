"""The citation transformer on its own: however the text arrives in deltas, the folded
message is the same, its text is the input text, and other blocks keep their order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from epistula.citations.align import Aligner
from epistula.citations.sources import citable_chunks
from epistula.citations.stream import cite_events
from epistula.generation.accumulate import accumulate
from epistula.generation.assembler import Assembler
from epistula.protocol.messages import MessageCreateParams
from epistula.protocol.streaming import RawMessageStreamEvent
from epistula.protocol.usage import Usage

SOURCE = "The grass is green. The sky is blue over the harbour today. Bananas are yellow and grow in bunches."
REPLY = "Well, the sky is blue over the harbour today, I read. Trains are fast.\n\nThe grass is green."


def aligner() -> Aligner:
    params = MessageCreateParams.model_validate(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": SOURCE},
                            "citations": {"enabled": True},
                        }
                    ],
                }
            ],
        }
    )
    return Aligner(citable_chunks(params))


def generated(step: int) -> list[RawMessageStreamEvent]:
    """What the pipeline emits for a thinking block, REPLY in ``step``-character deltas, a tool call."""
    asm = Assembler(message_id="msg_1", model="m", usage=Usage(input_tokens=1, output_tokens=0))
    events = asm.start() + asm.thinking("hmm") + asm.thinking_done("sig")
    for i in range(0, len(REPLY), step):
        events += asm.text(REPLY[i : i + step])
    events += asm.tool_use("toolu_1", "lookup", {"q": 1})
    return events + asm.finish("tool_use", output_tokens=5)


async def recut(events: list[RawMessageStreamEvent]) -> list[RawMessageStreamEvent]:
    async def source() -> AsyncIterator[RawMessageStreamEvent]:
        for event in events:
            yield event

    return [event async for event in cite_events(source(), aligner())]


@pytest.mark.parametrize("step", [1, 2, 5, 13, len(REPLY)])
def test_any_delta_split_folds_to_the_same_message(step: int) -> None:
    out = asyncio.run(recut(generated(step)))
    message = accumulate(out)
    reference = accumulate(asyncio.run(recut(generated(len(REPLY)))))
    assert message == reference
    kinds = [b.type for b in message.content]
    assert kinds[0] == "thinking" and kinds[-1] == "tool_use" and set(kinds[1:-1]) == {"text"}
    texts = [b for b in message.content if b.type == "text"]
    assert "".join(b.text for b in texts) == REPLY
    cited = [(b.text, [c.cited_text for c in b.citations or []]) for b in texts if b.citations]
    assert cited == [
        ("the sky is blue over the harbour today, ", ["The sky is blue over the harbour today. "]),
        ("The grass is green.", ["The grass is green. "]),
    ]
    starts = [e.index for e in out if e.type == "content_block_start"]  # type: ignore[union-attr]
    assert starts == list(range(len(message.content)))
