"""``epistula batch`` against a live server (in-process CLI, real HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from epistula.cli import main
from epistula.cli.batch_client import progress_bar

from .support import Live, batch_request


def write_requests(path: Path, n: int) -> Path:
    lines = [json.dumps(batch_request(f"cli-{i}", f"#say:reply {i}")) for i in range(n)]
    path.write_text("\n".join(lines) + "\n\n")
    return path


def cli(live: Live, *args: str) -> None:
    main(["batch", "--base-url", live.base_url, "--api-key", live.api_key, *args])


def test_submit_wait_writes_results_and_draws_progress(
    batch_server: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_requests(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out.jsonl"
    cli(batch_server, "submit", str(source), "--wait", "--poll", "0.05", "-o", str(out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["custom_id"] for line in lines) == [f"cli-{i}" for i in range(5)]
    assert all(line["result"]["type"] == "succeeded" for line in lines)
    assert {line["result"]["message"]["content"][0]["text"] for line in lines} == {f"reply {i}" for i in range(5)}
    err = capsys.readouterr().err
    assert "submitted msgbatch_" in err
    assert "[" + "#" * 30 + "] 5/5 requests" in err
    assert "ended: 5 succeeded" in err


def test_submit_status_results_cancel(batch_server: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli(batch_server, "submit", str(write_requests(tmp_path / "in.jsonl", 2)))
    batch_id = capsys.readouterr().out.strip()
    assert batch_id.startswith("msgbatch_")
    cli(batch_server, "cancel", batch_id)
    assert json.loads(capsys.readouterr().out)["id"] == batch_id
    cli(batch_server, "status", batch_id)
    status = json.loads(capsys.readouterr().out)
    assert status["processing_status"] in ("canceling", "ended")


def test_errors_exit_nonzero(batch_server: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli(batch_server, "status", "msgbatch_nope")
    assert info.value.code == 1
    assert "HTTP 404: not_found_error" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"custom_id": "a"}\nnot json\n')
    with pytest.raises(SystemExit):
        cli(batch_server, "submit", str(bad))
    assert "bad.jsonl:2: not valid JSON" in capsys.readouterr().err


def test_connection_options_after_the_action(batch_server: Live, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["batch", "status", "msgbatch_nope", "--base-url", batch_server.base_url, "--api-key", "sk-wrong"])
    assert "HTTP 401: authentication_error" in capsys.readouterr().err


def test_progress_bar() -> None:
    assert progress_bar(0, 4, width=8) == "[........] 0/4 requests"
    assert progress_bar(2, 4, width=8) == "[####....] 2/4 requests"
    assert progress_bar(4, 4, width=8) == "[########] 4/4 requests"
