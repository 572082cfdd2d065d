"""``epistula keys ...`` and ``epistula workspaces ...`` as real subprocesses on the
database of a running server: what the CLI does is seen by the server's next request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anthropic
import pytest

from batches.support import Live
from epistula.cli.serve import ensure_key
from epistula.config import Settings

from .conftest import ADMIN_KEY

MODEL = "claude-haiku-4-5"


def epistula(live: Live, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    settings = live.state.settings
    argv = [sys.executable, "-m", "epistula", *args, "--data-dir", str(settings.data_dir)]
    if settings.database_url:
        argv += ["--database-url", settings.database_url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPISTULA_")}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def say(client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "#say:ok"}])


def test_workspaces_and_keys_from_the_cli(tenancy_server: Live) -> None:
    workspace_id = epistula(tenancy_server, "workspaces", "create", "cli-team").stdout.strip()
    assert workspace_id.startswith("wrkspc_")
    listing = epistula(tenancy_server, "workspaces", "list").stdout
    assert workspace_id in listing and "cli-team" in listing and "wrkspc_default" in listing

    made = epistula(tenancy_server, "keys", "create", "--workspace", workspace_id, "--name", "cli-key")
    secret = made.stdout.strip()
    assert secret.startswith("sk-epi-api01-") and "\n" not in secret
    assert "shown once" in made.stderr
    client = tenancy_server.client(api_key=secret)
    say(client)

    keys = epistula(tenancy_server, "keys", "list", "--workspace", workspace_id).stdout
    assert "cli-key" in keys and "active" in keys and secret[-4:] in keys and secret not in keys

    admin = tenancy_server.client(api_key=ADMIN_KEY)
    key_id = next(k.id for k in admin.organization.api_keys.list(workspace_id=workspace_id))
    assert "inactive" in epistula(tenancy_server, "keys", "disable", key_id).stdout
    with pytest.raises(anthropic.AuthenticationError):
        say(client)
    epistula(tenancy_server, "keys", "enable", secret)  # by the secret itself works too
    say(client)

    assert "archived" in epistula(tenancy_server, "workspaces", "archive", workspace_id).stdout
    with pytest.raises(anthropic.AuthenticationError):
        say(client)
    assert workspace_id not in epistula(tenancy_server, "workspaces", "list").stdout
    assert workspace_id in epistula(tenancy_server, "workspaces", "list", "--all").stdout


def test_admin_keys_from_the_cli(tenancy_server: Live) -> None:
    secret = epistula(tenancy_server, "keys", "create", "--admin", "--name", "ops").stdout.strip()
    assert secret.startswith("sk-epi-admin01-")
    admin = tenancy_server.client(api_key=secret)
    assert admin.organization.retrieve().type == "organization"
    assert "ops" in epistula(tenancy_server, "keys", "list", "--admin").stdout
    epistula(tenancy_server, "keys", "disable", secret)
    with pytest.raises(anthropic.AuthenticationError):
        admin.organization.retrieve()


def test_cli_errors_exit_non_zero(tenancy_server: Live) -> None:
    done = epistula(tenancy_server, "keys", "create", "--workspace", "wrkspc_missing", check=False)
    assert done.returncode == 1 and "not found" in done.stderr and not done.stdout
    done = epistula(tenancy_server, "workspaces", "archive", "wrkspc_default", check=False)
    assert done.returncode == 1 and "default workspace" in done.stderr
    done = epistula(tenancy_server, "keys", "disable", "apikey_missing", check=False)
    assert done.returncode == 1


def test_first_start_creates_and_prints_a_key_once(tmp_path: Path) -> None:
    settings = Settings(engine="fake", data_dir=tmp_path)
    line = ensure_key(settings)
    secret = line.split()[2]
    assert secret.startswith("sk-epi-api01-") and "shown once" in line
    again = ensure_key(settings)
    assert secret not in again and "already created" in again
    assert "EPISTULA_API_KEY" in ensure_key(Settings(engine="fake", data_dir=tmp_path, api_key="sk-x"))
