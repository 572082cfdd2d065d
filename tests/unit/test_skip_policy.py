"""The skip policy (tests/skip_policy.py) on a tiny test directory run in a pytest subprocess:
under CI a skip whose reason is not allow-listed fails an otherwise green run; allowed skips
and runs outside CI stay green; the counts and every reason are printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import skip_policy

TESTS_DIR = Path(skip_policy.__file__).parent

CONFTEST = """
from pathlib import Path
import skip_policy

def pytest_configure(config):
    skip_policy.install(config, Path(__file__).with_name("allowed.txt"))
"""

ALLOWED = "# comment line\n\n^needs a GPU$\n"

TESTS = """
import pytest

def test_one():
    pass

def test_two():
    pass

@pytest.mark.skipif(True, reason="needs a GPU")
def test_gpu():
    pass
"""

UNLISTED = """
import pytest

def test_database():
    pytest.skip("EPISTULA_TEST_POSTGRES_URL is not set")
"""

MODULE_SKIP = """
import pytest

pytest.skip("chromium is not installed", allow_module_level=True)

def test_browser():
    pass
"""


def run(tmp_path: Path, files: dict[str, str], *, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "allowed.txt").write_text(ALLOWED)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_allowed_skips_keep_a_ci_run_green(tmp_path: Path) -> None:
    proc = run(tmp_path, {"test_ok.py": TESTS}, ci="true")
    assert proc.returncode == 0, proc.stdout
    assert "2 passed, 0 failed, 1 skipped" in proc.stdout
    assert "allowed: test_ok.py::test_gpu: needs a GPU" in proc.stdout


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_an_unlisted_skip_fails_a_ci_run(tmp_path: Path, ci: str) -> None:
    proc = run(tmp_path, {"test_ok.py": TESTS, "test_db.py": UNLISTED}, ci=ci)
    assert proc.returncode == 1, proc.stdout
    assert "2 passed, 0 failed, 2 skipped" in proc.stdout
    assert "NOT ALLOWED: test_db.py::test_database: EPISTULA_TEST_POSTGRES_URL is not set" in proc.stdout
    assert "1 skip(s) not in allowed_skips.txt: the run fails (CI=true)" in proc.stdout


def test_a_skipped_module_counts_and_fails_a_ci_run(tmp_path: Path) -> None:
    proc = run(tmp_path, {"test_browser.py": MODULE_SKIP}, ci="true")
    assert proc.returncode == 1, proc.stdout
    assert "NOT ALLOWED: test_browser.py: chromium is not installed" in proc.stdout


@pytest.mark.parametrize("ci", [None, "false", ""])
def test_outside_ci_unlisted_skips_are_only_reported(tmp_path: Path, ci: str | None) -> None:
    proc = run(tmp_path, {"test_ok.py": TESTS, "test_db.py": UNLISTED}, ci=ci)
    assert proc.returncode == 0, proc.stdout
    assert "NOT ALLOWED: test_db.py::test_database" in proc.stdout
    assert "they would fail the run under CI=true" in proc.stdout


def test_a_failing_run_keeps_its_own_exit_status(tmp_path: Path) -> None:
    failing = "def test_bad():\n    assert False\n"
    proc = run(tmp_path, {"test_bad.py": failing, "test_db.py": UNLISTED}, ci="true")
    assert proc.returncode == 1, proc.stdout
    assert "0 passed, 1 failed, 1 skipped" in proc.stdout


def test_the_projects_allow_list_compiles_and_names_the_opt_in_model() -> None:
    patterns = skip_policy.load_allowed(skip_policy.ALLOWED_SKIPS)
    assert patterns
    assert any(p.search("set EPISTULA_TEST_QWEN_GGUF to a Qwen GGUF") for p in patterns)
    for reason in ("llama.cpp engine not importable", "EPISTULA_TEST_POSTGRES_URL is not set", "no claude CLI"):
        assert not any(p.search(reason) for p in patterns), reason
