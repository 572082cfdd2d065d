"""The ``get_weather`` tool the SDK tool-runner tests hand to ``tool_runner``, the
fake-engine reply that calls it, and a stricter input schema for the real-model tests."""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic import beta_tool

FORECAST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "days"],
    "additionalProperties": False,
}
"""A ``get_weather`` input schema with bounds, for the real-model grammar tests."""

CALL = '<tool_call>\\n{"name": "get_weather", "arguments": {"city": "Paris"}}\\n</tool_call>'


def weather_tool(calls: list[str], reply: str) -> Any:
    """A ``@beta_tool`` that records each city it is asked about in ``calls`` and returns ``reply``."""

    @beta_tool
    def get_weather(city: str) -> str:
        """Get the weather for a city.

        Args:
            city: the city
        """
        calls.append(city)
        return reply

    return get_weather


def run_weather_agent(client: anthropic.Anthropic, reply: str, **options: Any) -> tuple[list[str], Any]:
    """The SDK's ``tool_runner`` on a turn that asks for Paris's weather (``options`` to
    it), until done: the cities the tool was asked about, and the final message."""
    calls: list[str] = []
    runner = client.beta.messages.tool_runner(
        model="claude-sonnet-4-6",
        max_tokens=300,
        tools=[weather_tool(calls, reply)],
        messages=[{"role": "user", "content": f"#say:{CALL}"}],
        **options,
    )
    return calls, runner.until_done()
