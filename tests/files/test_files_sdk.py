"""The Files API through the official SDK (``client.beta.files`` and ``client.files``),
and files used as documents in Messages and in batches."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import anthropic
import httpx
import pytest

from batches.support import Live, wait_ended

MODEL = "claude-haiku-4-5"


def make_pdf(*pages: str) -> bytes:
    """A minimal, valid PDF with one line of Helvetica text per page."""
    objects: list[bytes] = []
    n = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    font_ref = 3 + 2 * n
    for i, text in enumerate(pages):
        content = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R"
            f" /Resources << /Font << /F1 {font_ref} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def ask(client: anthropic.Anthropic, document: dict[str, Any]) -> str:
    """The fake engine echoes the last user turn: the reply shows what the prompt held."""
    content: Any = [document, {"type": "text", "text": "What does it say?"}]
    message = client.messages.create(model=MODEL, max_tokens=400, messages=[{"role": "user", "content": content}])
    return str(message.content[0].to_dict()["text"])


def test_upload_retrieve_list_delete(client: anthropic.Anthropic) -> None:
    meta = client.beta.files.upload(file=("notes.txt", b"hello files", "text/plain"))
    assert meta.id.startswith("file_01")
    assert (meta.type, meta.filename, meta.mime_type, meta.size_bytes) == ("file", "notes.txt", "text/plain", 11)
    assert meta.downloadable is False
    assert abs(meta.created_at.timestamp() - time.time()) < 60
    assert client.beta.files.retrieve_metadata(meta.id) == meta
    assert meta.id in [f.id for f in client.beta.files.list(limit=100).data]
    deleted = client.beta.files.delete(meta.id)
    assert (deleted.id, deleted.type) == (meta.id, "file_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.beta.files.retrieve_metadata(meta.id)
    with pytest.raises(anthropic.NotFoundError):
        client.beta.files.delete(meta.id)


def test_uploaded_files_are_not_downloadable(files_server: Live, client: anthropic.Anthropic) -> None:
    meta = client.beta.files.upload(file=("a.txt", b"secret", "text/plain"))
    with pytest.raises(anthropic.BadRequestError):
        client.beta.files.download(meta.id)
    resp = httpx.get(f"{files_server.base_url}/v1/files/{meta.id}/content", headers=files_server.headers())
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and "not downloadable" in error["message"]
    assert error.get("details", {}).get("error_code") == "file_not_downloadable"


def test_download_where_allowed(download_server: Live) -> None:
    client = download_server.client()
    payload = bytes(range(256)) * 3
    meta = client.files.upload(file=("blob.bin", payload, "application/octet-stream"))
    assert meta.downloadable is True and meta.mime_type == "application/octet-stream"
    response = client.files.download(meta.id)
    assert response.read() == payload
    assert response.http_request.headers.get("accept") == "application/binary"
    assert client.beta.files.download(meta.id).read() == payload


def test_upload_over_the_limit_is_413(download_server: Live) -> None:
    client = download_server.client()
    with pytest.raises(anthropic.APIStatusError) as info:
        client.files.upload(file=("big.txt", b"x" * 2048, "text/plain"))
    assert info.value.status_code == 413
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "request_too_large"
    files = client.files.list(limit=100).data
    assert "big.txt" not in [f.filename for f in files]


def test_filenames_and_mime_types(client: anthropic.Anthropic) -> None:
    meta = client.beta.files.upload(file=("../../etc/report.md", b"# hi", "application/octet-stream"))
    assert meta.filename == "report.md" and meta.mime_type == "text/markdown"
    meta = client.beta.files.upload(file=("C:\\Users\\me\\data.json", b"{}", "application/json"))
    assert meta.filename == "data.json" and meta.mime_type == "application/json"


def test_list_has_both_paging_styles(files_server: Live, workspace_client: anthropic.Anthropic) -> None:
    ids = [workspace_client.files.upload(file=(f"f{i}.txt", b"x", "text/plain")).id for i in range(3)]
    page = workspace_client.files.list(limit=2)
    assert [f.id for f in page.data] == [ids[2], ids[1]] and page.next_page
    assert [f.id for f in workspace_client.files.list(limit=2)] == ids[::-1]  # cursor auto-paging
    assert [f.id for f in workspace_client.beta.files.list(limit=1)] == ids[::-1]
    assert [f.id for f in workspace_client.files.list(ids=[ids[0], ids[2], "file_nope"]).data] == [ids[2], ids[0]]
    key = str(workspace_client.api_key)
    headers = files_server.headers(**{"x-api-key": key, "anthropic-beta": "files-api-2025-04-14"})
    raw = httpx.get(f"{files_server.base_url}/v1/files?beta=true&limit=2", headers=headers).json()
    assert set(raw) == {"data", "has_more", "first_id", "last_id", "next_page"}
    assert (raw["has_more"], raw["first_id"], raw["last_id"]) == (True, ids[2], ids[1])
    assert raw["next_page"].startswith("page_")
    older = httpx.get(f"{files_server.base_url}/v1/files?limit=5&after_id={ids[1]}", headers=headers).json()
    assert [f["id"] for f in older["data"]] == [ids[0]] and older["has_more"] is False and older["next_page"] is None
    newer = httpx.get(f"{files_server.base_url}/v1/files?limit=5&before_id={ids[0]}", headers=headers).json()
    assert [f["id"] for f in newer["data"]] == [ids[2], ids[1]]
    assert set(raw["data"][0]) == {
        "id", "type", "filename", "mime_type", "size_bytes", "created_at", "downloadable", "expires_at",
    }  # fmt: skip


def test_other_workspaces_get_404(files_server: Live, client: anthropic.Anthropic) -> None:
    meta = client.files.upload(file=("mine.txt", b"mine", "text/plain"))
    key = "sk-other-" + secrets.token_hex(6)
    files_server.add_key(key, "wrkspc_o_" + secrets.token_hex(4))
    other = files_server.client(api_key=key)
    with pytest.raises(anthropic.NotFoundError):
        other.files.retrieve_metadata(meta.id)
    with pytest.raises(anthropic.NotFoundError):
        other.files.delete(meta.id)
    with pytest.raises(anthropic.NotFoundError):
        other.files.download(meta.id)
    assert meta.id not in [f.id for f in other.files.list(limit=100).data]
    with pytest.raises(anthropic.NotFoundError):
        ask(other, {"type": "document", "source": {"type": "file", "file_id": meta.id}})
    assert client.files.retrieve_metadata(meta.id).id == meta.id


def test_bad_uploads(files_server: Live) -> None:
    url = f"{files_server.base_url}/v1/files"
    headers = files_server.headers()
    resp = httpx.post(url, headers=headers, files={"other": ("a.txt", b"x", "text/plain")})
    assert resp.status_code == 400 and resp.json()["error"]["message"] == "file: Field required"
    resp = httpx.post(url, headers=headers | {"content-type": "application/json"}, content=b"{}")
    assert resp.status_code == 400 and "multipart/form-data" in resp.json()["error"]["message"]
    resp = httpx.post(url, headers=headers, files={"file": ("a.txt", b"x")}, data={"expires_in_seconds": "10"})
    assert resp.status_code == 400 and resp.json()["error"]["message"].startswith("expires_in_seconds")
    resp = httpx.post(url, headers=headers, files={"file": ("a.txt", b"x")}, data={"expires_in_seconds": "3600"})
    assert resp.status_code == 200, resp.text
    meta = resp.json()
    assert meta["expires_at"] is not None and meta["filename"] == "a.txt" and meta["mime_type"] == "text/plain"


# ---------------------------------------------------------------- files and PDFs as documents


def test_text_file_document_reaches_the_prompt(client: anthropic.Anthropic) -> None:
    meta = client.beta.files.upload(file=("facts.txt", b"The secret word is pineapple.", "text/plain"))
    reply = ask(client, {"type": "document", "source": {"type": "file", "file_id": meta.id}, "title": "Facts"})
    assert '<document title="Facts">' in reply and "The secret word is pineapple." in reply
    with_doc = client.messages.count_tokens(
        model=MODEL,
        messages=[{"role": "user", "content": [{"type": "document", "source": {"type": "file", "file_id": meta.id}}]}],
    )
    assert with_doc.input_tokens > len("The secret word is pineapple.")


def test_pdf_documents_base64_and_file(client: anthropic.Anthropic) -> None:
    pdf = make_pdf("Hello from page one", "And page two")
    data = base64.b64encode(pdf).decode()
    reply = ask(
        client, {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": data}}
    )
    assert "Hello from page one" in reply and "And page two" in reply
    assert reply.index('<page number="1">') < reply.index('<page number="2">')
    meta = client.beta.files.upload(file=("doc.pdf", pdf, "application/pdf"))
    assert meta.mime_type == "application/pdf"
    assert "Hello from page one" in ask(client, {"type": "document", "source": {"type": "file", "file_id": meta.id}})


def test_unusable_documents_are_rejected(files_server: Live, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        ask(client, {"type": "document", "source": {"type": "file", "file_id": "file_01nope"}})
    assert "messages.0.content.0.document.source.file_id" in missing.value.message
    image = client.files.upload(file=("pic.png", b"\x89PNG\r\n", "image/png"))
    with pytest.raises(anthropic.BadRequestError) as wrong_type:
        ask(client, {"type": "document", "source": {"type": "file", "file_id": image.id}})
    assert "image/png" in wrong_type.value.message
    bad_pdf = base64.b64encode(b"not a pdf").decode()
    with pytest.raises(anthropic.BadRequestError):
        ask(
            client, {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": bad_pdf}}
        )


def test_file_documents_in_a_batch(client: anthropic.Anthropic) -> None:
    meta = client.files.upload(file=("batch.txt", b"batch-visible text", "text/plain"))
    doc: Any = {"type": "document", "source": {"type": "file", "file_id": meta.id}}
    missing: Any = {**doc, "source": {"type": "file", "file_id": "file_01x"}}
    batch = client.messages.batches.create(
        requests=[
            {
                "custom_id": "doc",
                "params": {"model": MODEL, "max_tokens": 300, "messages": [{"role": "user", "content": [doc]}]},
            },
            {
                "custom_id": "gone",
                "params": {
                    "model": MODEL,
                    "max_tokens": 300,
                    "messages": [{"role": "user", "content": [missing]}],
                },
            },
        ]
    )
    wait_ended(client, batch.id)
    results: dict[str, Any] = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["doc"].type == "succeeded"
    assert "batch-visible text" in results["doc"].message.content[0].text
    assert results["gone"].type == "errored" and results["gone"].error.error.type == "not_found_error"
