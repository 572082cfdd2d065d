"""Skills in the code-execution container: a skill uploaded through ``client.beta.skills``
and named in ``container.skills`` is mounted read-only at ``/skills/<name>/``, listed in
the response's ``container.skills``, and named (with its description) in the prompt."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest

from conftest import LiveServer, assert_error, client_fixture, server_fixture
from epistula.protocol.servertools import ContainerSkill
from epistula.servertools.skills_mount import MountedSkill, skills_prompt

BETAS = ["code-execution-2025-08-25", "skills-2025-10-02"]
TOOL = {"type": "code_execution_20250825", "name": "code_execution"}
SKILL_MD = b"---\nname: greeter\ndescription: Greets people warmly.\n---\n#say:Skill read.\n"


def bash(command: str) -> str:
    arguments = json.dumps({"name": "bash_code_execution", "arguments": {"command": command}})
    return f"#say:<tool_call>{arguments}</tool_call>"


live = server_fixture("live", "skills-container", code_execution=True)


client = client_fixture()


@pytest.fixture(scope="module")
def skill(client: anthropic.Anthropic) -> Any:
    files = [("greeter/SKILL.md", SKILL_MD, "text/markdown"), ("greeter/hello.sh", b"echo hello\n", "text/plain")]
    return client.beta.skills.create(files=files, betas=["skills-2025-10-02"])


def create(client: anthropic.Anthropic, content: str, **extra: Any) -> Any:
    return client.beta.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=400,
        betas=BETAS,
        tools=[TOOL],
        messages=[{"role": "user", "content": content}],
        **extra,
    )


def test_a_skill_is_mounted_read_only(client: anthropic.Anthropic, skill: Any) -> None:
    skills = [{"type": "custom", "skill_id": skill.id, "version": "latest"}]
    command = "cat /skills/greeter/SKILL.md; bash /skills/greeter/hello.sh; touch /skills/greeter/x || echo read-only"
    message = create(client, bash(command), container={"skills": skills})
    assert [b.type for b in message.content] == ["server_tool_use", "bash_code_execution_tool_result", "text"]
    result = message.content[1].content
    assert result.stdout == SKILL_MD.decode() + "hello\nread-only\n"
    assert message.content[2].text == "Skill read."  # the model read the skill
    [version] = client.beta.skills.versions.list(skill.id, betas=["skills-2025-10-02"]).data
    assert message.container is not None and message.container.skills is not None
    [listed] = message.container.skills
    assert (listed.skill_id, listed.type, listed.version) == (skill.id, "custom", version.version)

    # The same container without skills: none are mounted any more.
    again = create(client, bash("ls /skills 2>&1 || true"), container=message.container.id)
    assert "No such file" in again.content[1].content.stdout
    assert again.container.skills is None


def test_the_prompt_names_the_skills(client: anthropic.Anthropic, skill: Any) -> None:
    skills = [{"type": "custom", "skill_id": skill.id}]
    plain = create(client, "#say:ok", system="Be brief.")
    with_skill = create(client, "#say:ok", system="Be brief.", container={"skills": skills})
    mounted = MountedSkill(
        ContainerSkill(skill_id=skill.id, type="custom", version="1"), "greeter", "Greets people warmly."
    )
    text = skills_prompt([mounted]).text
    added = with_skill.usage.input_tokens - plain.usage.input_tokens  # the fake tokenizer counts bytes
    assert len(text.encode()) <= added <= len(text.encode()) + 8


def test_bad_skill_references(live: LiveServer, skill: Any) -> None:
    def post(container: Any, tools: list[Any] = [TOOL]) -> httpx.Response:  # noqa: B006
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 20,
            "tools": tools,
            "container": container,
            "messages": [{"role": "user", "content": "#say:ok"}],
        }
        return httpx.post(f"{live.base_url}/v1/messages", json=body, headers=live.headers())

    assert post({"skills": [{"type": "custom", "skill_id": "skill_01nope"}]}).status_code == 404
    assert_error(
        post({"skills": [{"type": "anthropic", "skill_id": "pptx", "version": "latest"}]}),
        400,
        "invalid_request_error",
        "container.skills.0: the Anthropic skill `pptx` is not available on this server (custom skills are)",
    )
    twice = [{"type": "custom", "skill_id": skill.id}] * 2
    assert post({"skills": twice}).status_code == 400
    assert post({"skills": [{"type": "custom"}]}).json()["error"]["message"].startswith("container.skills.0.skill_id")
