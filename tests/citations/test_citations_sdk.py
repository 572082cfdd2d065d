"""Citations on documents through the official SDK, on the fake engine (``#say:`` makes
the reply copy, weave in or ignore the sources).

Every citation must point at a real range of its source: ``cited_text`` equals
``source[start_char_index:end_char_index]`` for plain text, the text of the cited page
for PDFs, the cited block for custom content. Streaming and non-streaming replies carry
the same citations (the JSON reply is a fold of the stream), and a reply that does not
reuse the documents carries none.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import anthropic
import httpx
import pytest
from pypdf import PdfReader

from batches.support import wait_ended
from conftest import API_KEY, MODEL, V2023, LiveServer, parse_sse
from files.test_files_sdk import make_pdf

SOURCE = "The grass is green. The sky is blue over the harbour today. Bananas are yellow and grow in bunches."
WOVEN = "According to the notes, the sky is blue over the harbour today. I also like trains."


def text_doc(data: str = SOURCE, **extra: Any) -> dict[str, Any]:
    return {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": data},
        "citations": {"enabled": True},
        **extra,
    }


def params(*documents: dict[str, Any], say: str, **extra: Any) -> dict[str, Any]:
    content = [*documents, {"type": "text", "text": f"#say:{say}"}]
    return {"model": MODEL, "max_tokens": 400, "messages": [{"role": "user", "content": content}], **extra}


def blocks(message: Any) -> list[dict[str, Any]]:
    return [b.to_dict() if hasattr(b, "to_dict") else b for b in message.content]


def full_text(content: list[dict[str, Any]]) -> str:
    return "".join(b["text"] for b in content if b["type"] == "text")


@pytest.fixture(scope="module")
def client(fake_server: LiveServer) -> anthropic.Anthropic:
    return fake_server.client()


# ---------------------------------------------------------------- plain text


def test_copied_sentence_is_cited_with_its_exact_character_range(client: anthropic.Anthropic) -> None:
    message = client.messages.create(**params(text_doc(title="Colours"), say=WOVEN))
    content = blocks(message)
    assert full_text(content) == WOVEN
    cited = [b for b in content if b.get("citations")]
    assert len(cited) == 1
    assert cited[0]["text"] == "the sky is blue over the harbour today. "  # the lead-in clause is not cited
    (citation,) = cited[0]["citations"]
    assert citation["type"] == "char_location"
    start, end = citation["start_char_index"], citation["end_char_index"]
    assert citation["cited_text"] == SOURCE[start:end] == "The sky is blue over the harbour today. "
    assert (citation["document_index"], citation["document_title"], citation["file_id"]) == (0, "Colours", None)
    uncited = [b for b in content if not b.get("citations")]
    assert [b["text"] for b in uncited] == ["According to the notes, ", "I also like trains."]
    assert uncited[0]["citations"] is None


def test_no_citation_when_the_reply_does_not_reuse_the_document(client: anthropic.Anthropic) -> None:
    for say in ("I only know about trains and timetables.", "The grass.", "Green, blue and yellow things exist."):
        content = blocks(client.messages.create(**params(text_doc(), say=say)))
        assert content == [{"type": "text", "text": say, "citations": None}], say


def test_each_copied_sentence_gets_its_own_block(client: anthropic.Anthropic) -> None:
    say = "The grass is green. Bananas are yellow and grow in bunches. Nothing else."
    content = blocks(client.messages.create(**params(text_doc(), say=say)))
    assert [b["text"] for b in content] == [
        "The grass is green. ",
        "Bananas are yellow and grow in bunches. ",
        "Nothing else.",
    ]
    for block in content[:2]:
        (citation,) = block["citations"]
        assert citation["cited_text"] == SOURCE[citation["start_char_index"] : citation["end_char_index"]]
        assert citation["cited_text"].strip() == block["text"].strip()
    assert content[2]["citations"] is None


def test_document_index_counts_every_document_in_the_request(client: anthropic.Anthropic) -> None:
    other = "Trains leave the station every hour on weekdays."
    message = client.messages.create(
        **params(
            text_doc(other, title="Timetable"), text_doc(title="Colours"), say="Bananas are yellow and grow in bunches."
        )
    )
    (block,) = blocks(message)
    (citation,) = block["citations"]
    assert (citation["document_index"], citation["document_title"]) == (1, "Colours")
    assert citation["cited_text"] == SOURCE[citation["start_char_index"] : citation["end_char_index"]]


def test_citations_off_leaves_the_reply_alone(client: anthropic.Anthropic) -> None:
    message = client.messages.create(**params(text_doc(citations={"enabled": False}), say=WOVEN))
    assert blocks(message) == [{"type": "text", "text": WOVEN, "citations": None}]


# ---------------------------------------------------------------- streaming is the same fold


def test_stream_carries_citations_delta_and_folds_to_the_json_reply(
    fake_server: LiveServer, client: anthropic.Anthropic
) -> None:
    request = params(text_doc(title="Colours"), say=WOVEN)
    expected = blocks(client.messages.create(**request))
    with client.messages.stream(**request) as stream:
        kinds = [(e.type, getattr(getattr(e, "delta", None), "type", None)) for e in stream]
        final = stream.get_final_message()
    assert blocks(final) == expected
    assert ("content_block_delta", "citations_delta") in kinds

    headers = {"x-api-key": API_KEY, "anthropic-version": V2023}
    resp = httpx.post(f"{fake_server.base_url}/v1/messages", json={**request, "stream": True}, headers=headers)
    events = [data for name, data in parse_sse(resp.text) if name != "ping"]
    cited = [e for e in events if e["type"] == "content_block_start" and e["content_block"].get("citations") == []]
    assert len(cited) == 1
    index = cited[0]["index"]
    of_block = [e for e in events if e.get("index") == index]
    assert [e["type"] for e in of_block] == [
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
    ]  # fmt: skip
    assert [e["delta"]["type"] for e in of_block[1:3]] == ["citations_delta", "text_delta"]
    assert of_block[1]["delta"]["citation"] == expected[index]["citations"][0]
    starts = [e["index"] for e in events if e["type"] == "content_block_start"]
    assert starts == list(range(len(expected)))


# ---------------------------------------------------------------- PDFs, files, custom content


def pdf_pages(pdf: bytes) -> list[str]:
    return [(page.extract_text() or "").strip() for page in PdfReader(io.BytesIO(pdf)).pages]


PAGES = ("The lighthouse keeper lit the lamp at dusk.", "A storm broke over the northern cliffs at midnight.")


def test_pdf_citation_points_at_the_right_page(client: anthropic.Anthropic) -> None:
    pdf = make_pdf(*PAGES)
    document = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(pdf).decode()},
        "title": "Log",
        "citations": {"enabled": True},
    }
    say = "A storm broke over the northern cliffs at midnight, it says."
    block, tail = blocks(client.messages.create(**params(document, say=say)))
    assert (block["text"], tail) == (
        "A storm broke over the northern cliffs at midnight, ",
        {"type": "text", "text": "it says.", "citations": None},  # a trailing clause of its own is not cited
    )
    (citation,) = block["citations"]
    assert citation["type"] == "page_location"
    assert (citation["start_page_number"], citation["end_page_number"]) == (2, 3)
    assert citation["cited_text"] == pdf_pages(pdf)[1] == PAGES[1]  # the page's one sentence, as extracted
    assert (citation["document_title"], citation["file_id"]) == ("Log", None)

    say = "The lighthouse keeper lit the lamp at dusk."
    (block,) = blocks(client.messages.create(**params(document, say=say)))
    (citation,) = block["citations"]
    assert (citation["start_page_number"], citation["end_page_number"]) == (1, 2)
    assert citation["cited_text"] == pdf_pages(pdf)[0]


def test_file_sources_name_the_file(client: anthropic.Anthropic) -> None:
    text = b"Ships must stay clear of the reef. The ferry runs twice a day in summer."
    meta = client.beta.files.upload(file=("rules.txt", text, "text/plain"))
    document = {"type": "document", "source": {"type": "file", "file_id": meta.id}, "citations": {"enabled": True}}
    (block,) = blocks(client.messages.create(**params(document, say="The ferry runs twice a day in summer.")))
    (citation,) = block["citations"]
    assert citation["type"] == "char_location" and citation["file_id"] == meta.id
    source = text.decode()
    assert citation["cited_text"] == source[citation["start_char_index"] : citation["end_char_index"]]

    pdf = make_pdf(*PAGES)
    pdf_meta = client.beta.files.upload(file=("log.pdf", pdf, "application/pdf"))
    document = {"type": "document", "source": {"type": "file", "file_id": pdf_meta.id}, "citations": {"enabled": True}}
    (block,) = blocks(client.messages.create(**params(document, say=PAGES[1])))
    (citation,) = block["citations"]
    assert citation["type"] == "page_location" and citation["file_id"] == pdf_meta.id
    assert citation["start_page_number"] == 2


def test_custom_content_cites_block_ranges(client: anthropic.Anthropic) -> None:
    parts = ["Item one: the red kettle is in the kitchen.", "Item two: the blue umbrella hangs by the door."]
    document = {
        "type": "document",
        "source": {"type": "content", "content": [{"type": "text", "text": t} for t in parts]},
        "citations": {"enabled": True},
    }
    say = "The blue umbrella hangs by the door."
    (block,) = blocks(client.messages.create(**params(document, say=say)))
    (citation,) = block["citations"]
    assert citation["type"] == "content_block_location"
    assert (citation["start_block_index"], citation["end_block_index"]) == (1, 2)
    assert citation["cited_text"] == parts[1]


# ---------------------------------------------------------------- rules and batches


def test_citations_on_some_documents_only_is_400(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(**params(text_doc(), text_doc(citations={"enabled": False}), say="hi"))
    assert "all or none" in info.value.message


def test_citations_with_structured_outputs_is_400(client: anthropic.Anthropic) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            **params(text_doc(), say="hi", output_config={"format": {"type": "json_schema", "schema": schema}})
        )
    assert "citations" in info.value.message and "output_config.format" in info.value.message


def test_batch_results_carry_the_same_citations(client: anthropic.Anthropic) -> None:
    request = params(text_doc(title="Colours"), say=WOVEN)
    live = blocks(client.messages.create(**request))
    batch = client.messages.batches.create(requests=[{"custom_id": "cite", "params": request}])
    wait_ended(client, batch.id)
    (result,) = list(client.messages.batches.results(batch.id))
    assert result.result.type == "succeeded"
    assert blocks(result.result.message) == live


def test_models_say_citations_are_supported(client: anthropic.Anthropic) -> None:
    capabilities = client.models.retrieve(MODEL).to_dict()["capabilities"]
    assert capabilities["citations"] == {"supported": True}
