"""Two ``epistula serve`` processes on one PostgreSQL database: a key disabled through
one replica's Admin API gets 401 on the other replica's very next request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anthropic
import pytest

from batches.support import needs_postgres, postgres_schema
from processes import ServeProcess

MODEL = "claude-haiku-4-5"


def say(client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "#say:ok"}])


@needs_postgres
def test_a_disable_on_one_replica_is_seen_by_the_other_at_once(tmp_path: Path) -> None:
    with postgres_schema() as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EPISTULA_")}
        made = subprocess.run(
            [sys.executable, "-m", "epistula", "keys", "create", "--admin", "--database-url", url,
             "--data-dir", str(tmp_path / "cli")],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        admin_key = made.stdout.strip()
        env = {"EPISTULA_LOG_LEVEL": "warning", "EPISTULA_DATABASE_URL": url}
        one = ServeProcess(tmp_path / "one", env=env)
        two = ServeProcess(tmp_path / "two", env=env)
        try:
            admin_one = anthropic.Anthropic(base_url=one.base_url, api_key=admin_key, max_retries=0)
            admin_two = anthropic.Anthropic(base_url=two.base_url, api_key=admin_key, max_retries=0)
            workspace = admin_one.organization.workspaces.create(name="shared")
            assert admin_two.organization.workspaces.retrieve(workspace.id).name == "shared"
            created = admin_one.post(
                "/v1/organizations/api_keys", body={"name": "svc", "workspace_id": workspace.id}, cast_to=object
            )
            assert isinstance(created, dict)
            on_one = anthropic.Anthropic(base_url=one.base_url, api_key=created["key"], max_retries=0)
            on_two = anthropic.Anthropic(base_url=two.base_url, api_key=created["key"], max_retries=0)
            say(on_one)
            say(on_two)

            admin_one.organization.api_keys.update(created["id"], status="inactive")
            for client in (on_two, on_one, on_two):
                with pytest.raises(anthropic.AuthenticationError):
                    say(client)

            admin_two.organization.api_keys.update(created["id"], status="active")
            say(on_one)
            admin_two.organization.workspaces.archive(workspace.id)
            with pytest.raises(anthropic.AuthenticationError):
                say(on_one)
        finally:
            one.stop()
            two.stop()
