"""Which configured limits apply to a request.

Rules come from ``Settings.rate_limits``. A rule without ``key`` limits a workspace; a
rule with ``key`` limits one API key (``"*"``: every key, each on its own), on top of
its workspace's limit. ``workspace`` and ``model`` may be ``"*"``; buckets are always
per workspace (or key) *and* per served model (aliases share their model's bucket).
At each level the most specific matching rule wins as a whole (an exact key beats
``"*"``, then an exact workspace, then an exact model; among equals the first listed).
Each limit group (``model``: Messages; ``token_count``; ``batch``: batch items) has its
own rules and its own buckets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from epistula.config import RateLimitConfig, RateLimitGroup

Dimension = Literal["requests", "input_tokens", "output_tokens"]
DIMENSIONS: tuple[Dimension, ...] = ("requests", "input_tokens", "output_tokens")
ScopeKind = Literal["workspace", "key"]


@dataclass(frozen=True, slots=True)
class Limit:
    """One bucket a request must pass."""

    scope: ScopeKind
    scope_id: str
    model: str
    dimension: Dimension
    per_minute: int
    group: RateLimitGroup = "model"

    @property
    def bucket(self) -> str:
        name = f"{self.scope}:{self.scope_id}:{self.model}:{self.dimension}"
        return name if self.group == "model" else f"{self.group}:{name}"


class RateLimitRules:
    def __init__(self, rules: Sequence[RateLimitConfig], resolve_model: Callable[[str], str] = str) -> None:
        """``resolve_model`` maps a rule's model (maybe an alias) to the served model id."""
        self._rules = [
            r.model_copy(update={"model": r.model if r.model == "*" else resolve_model(r.model)}) for r in rules
        ]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def limits(self, *, workspace_id: str, key_id: str, model: str, group: RateLimitGroup = "model") -> list[Limit]:
        found: list[Limit] = []
        workspace_rule = self._best(workspace_id, None, model, group)
        if workspace_rule is not None:
            found += _expand(workspace_rule, "workspace", workspace_id, model)
        key_rule = self._best(workspace_id, key_id, model, group) if key_id else None
        if key_rule is not None:
            found += _expand(key_rule, "key", key_id, model)
        return found

    def _best(self, workspace_id: str, key_id: str | None, model: str, group: RateLimitGroup) -> RateLimitConfig | None:
        best: tuple[int, RateLimitConfig] | None = None
        for rule in self._rules:
            if rule.group != group or (rule.key is None) != (key_id is None):
                continue
            if rule.key not in (None, "*", key_id) or rule.workspace not in ("*", workspace_id):
                continue
            if rule.model not in ("*", model):
                continue
            score = 4 * (rule.key == key_id) + 2 * (rule.workspace == workspace_id) + (rule.model == model)
            if best is None or score > best[0]:
                best = (score, rule)
        return best[1] if best else None


def _expand(rule: RateLimitConfig, scope: ScopeKind, scope_id: str, model: str) -> list[Limit]:
    values: dict[Dimension, int | None] = {
        "requests": rule.requests_per_minute,
        "input_tokens": rule.input_tokens_per_minute,
        "output_tokens": rule.output_tokens_per_minute,
    }
    return [Limit(scope, scope_id, model, dim, value, rule.group) for dim, value in values.items() if value is not None]
