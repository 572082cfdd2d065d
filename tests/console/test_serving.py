"""``/console``: every file served with its content type and the strict security headers,
the page's references and the module graph complete, nothing fetched from elsewhere, no
inline code the CSP would block, and the usual Anthropic envelope for what is not there."""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, assert_error, fake_settings, running

from .conftest import STATIC_DIR, static_paths

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
IMPORT = re.compile(r"""^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)";""", re.M | re.S)


def get(live: LiveServer, path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(live.base_url + path, timeout=10, **kwargs)  # type: ignore[arg-type]


def assert_console_headers(resp: httpx.Response) -> None:
    assert resp.headers["content-security-policy"] == CSP
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["request-id"].startswith("req_")


def test_the_console_has_files_of_each_kind() -> None:
    kinds = {Path(p).suffix for p in static_paths()}
    assert {".html", ".css", ".mjs", ".svg"} <= kinds
    assert kinds <= set(CONTENT_TYPES), f"a file type without a content type: {kinds - set(CONTENT_TYPES)}"


def test_index_is_served_at_console_slash(console_server: LiveServer) -> None:
    resp = get(console_server, "/console/")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert_console_headers(resp)
    assert "<title>epistula console</title>" in resp.text
    assert resp.text == (STATIC_DIR / "index.html").read_text()


def test_console_without_slash_redirects(console_server: LiveServer) -> None:
    resp = get(console_server, "/console")
    assert resp.status_code in (307, 308)
    assert resp.headers["location"].endswith("/console/")
    assert get(console_server, "/console", follow_redirects=True).status_code == 200


@pytest.mark.parametrize("path", static_paths())
def test_every_file_is_served_with_its_type_and_the_csp(console_server: LiveServer, path: str) -> None:
    resp = get(console_server, f"/console/{path}")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == CONTENT_TYPES[Path(path).suffix]
    assert_console_headers(resp)
    assert resp.content == (STATIC_DIR / path).read_bytes()
    again = get(console_server, f"/console/{path}", headers={"if-none-match": resp.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["content-security-policy"] == CSP


def test_head_is_answered(console_server: LiveServer) -> None:
    resp = httpx.head(console_server.base_url + "/console/js/main.mjs", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == CONTENT_TYPES[".mjs"]
    assert resp.content == b""


def test_missing_files_and_other_methods_get_the_error_envelope(console_server: LiveServer) -> None:
    assert_error(get(console_server, "/console/nope.mjs"), 404, "not_found_error")
    assert_error(get(console_server, "/console/js/../../__init__.py"), 404, "not_found_error")
    resp = httpx.post(console_server.base_url + "/console/", json={}, timeout=10)
    assert_error(resp, 405, "invalid_request_error")


def test_no_path_leaves_the_static_directory(console_server: LiveServer) -> None:
    """Raw paths (httpx would normalise ``..``) through a plain socket-level request."""
    for raw in ("/console/../pyproject.toml", "/console/..%2f__init__.py", "/console/%2e%2e/__init__.py"):
        with httpx.Client(base_url=console_server.base_url, timeout=10) as client:
            request = client.build_request("GET", "/")
            request.url = request.url.copy_with(raw_path=raw.encode())
            resp = client.send(request)
        assert resp.status_code == 404, (raw, resp.text[:200])


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.bad.append(f"<{tag} {name}=...>")
            if name in ("src", "href") and value and not value.startswith("#"):
                self.refs.append(value)
        if tag == "script":
            self.scripts.append(attributes)
        if tag == "style":
            self.bad.append("<style>")

    def handle_data(self, data: str) -> None:
        if self.lasttag == "script" and data.strip():
            self.bad.append("inline <script>")


def test_the_page_has_no_inline_code_and_only_local_references(console_server: LiveServer) -> None:
    page = _Page()
    page.feed((STATIC_DIR / "index.html").read_text())
    assert not page.bad, f"the CSP blocks inline code: {page.bad}"
    assert page.scripts == [{"type": "module", "src": "js/main.mjs"}]
    assert page.refs, "no references found: the parser is broken"
    for ref in page.refs:
        assert "://" not in ref and not ref.startswith("/"), f"not a relative local reference: {ref}"
        assert get(console_server, f"/console/{ref}").status_code == 200, ref


def test_every_module_import_resolves_on_the_server(console_server: LiveServer) -> None:
    """The module graph from main.mjs, fetched as a browser would: every import is there."""
    seen: set[str] = set()
    pending = ["js/main.mjs"]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        resp = get(console_server, f"/console/{path}")
        assert resp.status_code == 200, f"{path}: {resp.status_code}"
        assert resp.headers["content-type"] == CONTENT_TYPES[".mjs"]
        for target in IMPORT.findall(resp.text):
            assert target.startswith("./") or target.startswith("../"), f"{path} imports {target}"
            pending.append(posixpath.normpath(posixpath.join(posixpath.dirname(path), target)))
    modules = {p for p in static_paths() if p.endswith(".mjs")}
    assert seen == modules, f"modules not reachable from main.mjs: {modules - seen}"


def test_nothing_is_fetched_from_the_network() -> None:
    """No CDN, no web fonts, no remote images: the only URL is the SVG namespace name."""
    for path in static_paths():
        text = (STATIC_DIR / path).read_text()
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'`)]*", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{path} names remote URLs: {urls}"
        assert "@import" not in text and "url(" not in text, f"{path} loads a stylesheet or resource"


def test_the_scripts_never_build_markup_from_strings() -> None:
    """Text from the server goes into text nodes only (no XSS sink), and no code from strings."""
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", '"style"')
    for path in static_paths():
        if path.endswith(".mjs"):
            text = (STATIC_DIR / path).read_text()
            found = [sink for sink in sinks if sink in text]
            assert not found, f"{path} uses {found}"


def test_arrays_are_never_appended_as_text() -> None:
    """Node.append() does not flatten arrays (it would add "[object HTMLOptionElement]" as
    text): lists of elements go through dom.mjs's append(el, children)."""
    for path in static_paths():
        if path.endswith(".mjs"):
            text = (STATIC_DIR / path).read_text()
            assert not re.search(r"\.append\(\s*[\w.]+\.map\(", text), f"{path} appends an array with Node.append"


def test_storage_holds_only_the_admin_key() -> None:
    """sessionStorage (never localStorage or cookies), written in one place."""
    for path in static_paths():
        text = (STATIC_DIR / path).read_text()
        assert "localStorage" not in text and "document.cookie" not in text, path
        if path != "js/api.mjs":
            assert "setItem" not in text, f"{path} writes to storage"


def test_console_enabled_false_serves_no_console(tmp_path: Path) -> None:
    with running(fake_settings(tmp_path, console_enabled=False)) as live:
        assert_error(get(live, "/console/"), 404, "not_found_error")
        assert get(live, "/health").status_code == 200
