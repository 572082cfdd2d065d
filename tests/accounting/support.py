"""Helpers of the accounting suite: fresh workspaces and keys, Admin API calls, the
usage a response was billed, and the expected cost worked out independently of the
server's pricing code."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anthropic
import httpx

from batches.support import Live

ADMIN_KEY = "sk-admin-accounting-test"
MODEL = "claude-haiku-4-5"
"""An alias: prices are configured by alias and reported under the served model."""
SPEND_WORKSPACE = "wrkspc_spendcap"
SPEND_LIMIT_USD = Decimal("0.001")
PRICES: dict[str, dict[str, str]] = {MODEL: {"input": "3", "output": "15", "cache_write_1h": "7"}}
USD_PER_MTOK = {
    "uncached_input_tokens": Decimal(3),
    "output_tokens": Decimal(15),
    "cache_read_input_tokens": Decimal("0.3"),
    "cache_creation.ephemeral_5m_input_tokens": Decimal("3.75"),
    "cache_creation.ephemeral_1h_input_tokens": Decimal(7),
}
TOKEN_FIELDS = (
    "uncached_input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
)


@dataclass
class Tenant:
    client: anthropic.Anthropic
    workspace_id: str
    key_id: str
    key: str


def new_tenant(live: Live, workspace_id: str | None = None, **client_kwargs: Any) -> Tenant:
    """A key in a workspace of its own (reports filtered by it see only this test)."""
    workspace_id = workspace_id or "wrkspc_" + secrets.token_hex(8)
    key = "sk-acct-" + secrets.token_hex(12)
    live.add_key(key, workspace_id)
    principal = live.state.keys.verify(key)
    assert principal is not None
    return Tenant(live.client(api_key=key, **client_kwargs), workspace_id, principal.key_id, key)


def admin_get(live: Live, path: str, params: Any = None, *, key: str = ADMIN_KEY) -> httpx.Response:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    return httpx.get(live.base_url + path, params=params, headers=headers, timeout=30.0)


def usage_report(live: Live, **params: Any) -> dict[str, Any]:
    resp = admin_get(live, "/v1/organizations/usage_report/messages", params)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def cost_report(live: Live, **params: Any) -> dict[str, Any]:
    resp = admin_get(live, "/v1/organizations/cost_report", params)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def billed(usage: Any) -> dict[str, int]:
    """A response's ``usage`` by report token type (a write without the TTL split is 5m)."""
    split = usage.cache_creation
    five = split.ephemeral_5m_input_tokens if split else 0
    hour = split.ephemeral_1h_input_tokens if split else 0
    five += max(0, (usage.cache_creation_input_tokens or 0) - five - hour)
    return {
        "uncached_input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
        "cache_creation.ephemeral_5m_input_tokens": five,
        "cache_creation.ephemeral_1h_input_tokens": hour,
    }


def add(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    return {k: total.get(k, 0) + v for k, v in more.items()}


def report_tokens(result: dict[str, Any]) -> dict[str, int]:
    """A usage report result by the same token types."""
    return {
        "uncached_input_tokens": result["uncached_input_tokens"],
        "output_tokens": result["output_tokens"],
        "cache_read_input_tokens": result["cache_read_input_tokens"],
        "cache_creation.ephemeral_5m_input_tokens": result["cache_creation"]["ephemeral_5m_input_tokens"],
        "cache_creation.ephemeral_1h_input_tokens": result["cache_creation"]["ephemeral_1h_input_tokens"],
    }


def expected_cents(tokens: dict[str, int], *, batch: bool = False) -> dict[str, Decimal]:
    """Cents per token type: tokens x USD/MTok x 100 / 1e6, half price for batches."""
    factor = Decimal("0.5") if batch else Decimal(1)
    return {k: Decimal(n) * USD_PER_MTOK[k] / Decimal(10_000) * factor for k, n in tokens.items()}


def usage_rows(live: Live, workspace_id: str) -> list[dict[str, Any]]:
    """The stored usage rows of a workspace, read straight from the database."""
    sql = (
        "SELECT request_id, api_key_id, model, service_tier, batch, outcome, input_tokens, output_tokens,"
        " latency_ms, ttft_ms FROM usage_records WHERE workspace_id = {p} ORDER BY seq"
    )
    url = live.state.settings.database_url
    if url is None:
        with contextlib.closing(sqlite3.connect(live.state.settings.data_dir / "storage.db")) as db:
            cur = db.execute(sql.format(p="?"), (workspace_id,))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql.format(p="%s"), (workspace_id,))
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def results_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for bucket in report["data"] for r in bucket["results"]]


def summed(results: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {k: 0 for k in TOKEN_FIELDS}
    for r in results:
        total = add(total, report_tokens(r))
    return total
