"""Record what a client (Claude Code) sends to epistula: a small forwarding proxy.

    python tests/golden/claude_code/record.py --listen 8091 --upstream http://127.0.0.1:8090 \\
        --out tests/golden/claude_code/<name>

Every request is forwarded unchanged and its answer streamed back; each request is saved
as ``NNN.json`` (method, path with query, headers, JSON body) with secrets removed: the
API key and bearer token, the ``metadata.user_id`` device and session ids, the billing
header's per-run hash, and the session-id header. ``test_claude_code_replay.py`` replays
them. Stop it with Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SECRET_HEADERS = {"x-api-key", "authorization"}
VOLATILE_HEADERS = {"x-claude-code-session-id", "content-length", "host"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def scrub(body: Any) -> Any:
    """The body with per-machine and per-run identifiers replaced by fixed placeholders."""
    user_id = (body.get("metadata") or {}).get("user_id") if isinstance(body, dict) else None
    if isinstance(user_id, str) and user_id.startswith("{"):
        ident = json.loads(user_id)
        ident["device_id"] = "0" * 64
        body["metadata"]["user_id"] = json.dumps(ident, separators=(",", ":"))
    text = json.dumps(body, ensure_ascii=False)
    text = UUID.sub("00000000-0000-4000-8000-000000000000", text)
    text = re.sub(r"cc_version=([0-9.]+)\.[0-9a-f]+;", r"cc_version=\1.000;", text)
    text = re.sub(r"cch=[0-9a-f]+;", "cch=00000;", text)
    text = re.sub(r"toolu_[A-Za-z0-9]+", "toolu_recorded", text)
    return json.loads(text)


class Recorder(BaseHTTPRequestHandler):
    upstream = ""
    out = Path(".")
    counter = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _record(self, body: bytes) -> None:
        headers = {
            k.lower(): ("<redacted>" if k.lower() in SECRET_HEADERS else v)
            for k, v in self.headers.items()
            if k.lower() not in VOLATILE_HEADERS
        }
        try:
            parsed: Any = scrub(json.loads(body)) if body else None
        except ValueError:
            parsed = body.decode(errors="replace")
        with self.lock:
            Recorder.counter += 1
            name = f"{Recorder.counter:03d}.json"
        entry = {"method": self.command, "path": self.path, "headers": headers, "body": parsed}
        (self.out / name).write_text(json.dumps(entry, indent=1, ensure_ascii=False) + "\n")

    def _forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self._record(body)
        target = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=600)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "accept-encoding")}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        response = conn.getresponse()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("connection", "close")
        self.end_headers()
        while chunk := response.read1(65536):
            self.wfile.write(chunk)
            self.wfile.flush()
        conn.close()

    do_GET = do_POST = do_HEAD = do_DELETE = _forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    Recorder.upstream, Recorder.out = args.upstream, args.out
    ThreadingHTTPServer(("127.0.0.1", args.listen), Recorder).serve_forever()


if __name__ == "__main__":
    main()
