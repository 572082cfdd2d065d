"""Usage rows, the Admin API usage and cost reports, and spend limits, through the
official SDK (requests) and httpx (the Admin API, which the Python SDK does not wrap)
against a real server on the fake engine."""

from __future__ import annotations

import base64
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anthropic
import pytest

from batches.support import Live, fake_settings, start_live, wait_ended
from epistula.accounting.usage_store import UsageStore
from epistula.storage.database import open_database

from .support import (
    MODEL,
    SPEND_LIMIT_USD,
    SPEND_WORKSPACE,
    TOKEN_FIELDS,
    Tenant,
    add,
    admin_get,
    billed,
    cost_report,
    expected_cents,
    iso,
    new_tenant,
    report_tokens,
    results_of,
    summed,
    usage_report,
    usage_rows,
)

SERVED = "smollm2-135m-instruct"


def since_yesterday() -> str:
    return iso(time.time() - 86400)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def req(custom_id: str, text: str) -> Any:
    return {"custom_id": custom_id, "params": {"model": MODEL, "max_tokens": 32, "messages": user(text)}}


@dataclass
class Traffic:
    tenant: Tenant
    live_tokens: dict[str, int]
    batch_tokens: dict[str, int]
    live_request_ids: list[str]
    streamed_request_id: str
    batch_id: str


@pytest.fixture(scope="module")
def traffic(acct_server: Live) -> Traffic:
    """Live requests (plain, streamed, with cache breakpoints) and a batch with one
    failing item, in a workspace of their own."""
    tenant = new_tenant(acct_server)
    c = tenant.client
    total: dict[str, int] = {}
    ids: list[str] = []
    plain = c.messages.with_raw_response.create(model=MODEL, max_tokens=32, messages=user("#say:hello there"))
    total = add(total, billed(plain.parse().usage))
    ids.append(plain.request_id or "")
    system = [  # over the fake engine's 1,024-token minimum: written, then read
        {"type": "text", "text": "You are terse. " * 80, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "Answer briefly. " * 80, "cache_control": {"type": "ephemeral"}},
    ]
    for _ in range(2):  # the second one reads what the first wrote
        cached = c.messages.with_raw_response.create(
            model=MODEL,
            max_tokens=32,
            system=system,
            messages=user("#say:cached"),  # type: ignore[arg-type]
        )
        total = add(total, billed(cached.parse().usage))
        ids.append(cached.request_id or "")
    with c.messages.stream(model=MODEL, max_tokens=32, messages=user("#say:a streamed reply")) as stream:
        message = stream.get_final_message()
        streamed_id = stream.response.headers["request-id"]
    total = add(total, billed(message.usage))
    ids.append(streamed_id)

    for kind in TOKEN_FIELDS:  # every token type is exercised (and priced below)
        assert total[kind] > 0, kind

    batch = c.messages.batches.create(
        requests=[req("ok-1", "#say:batched"), req("ok-2", "#say:two"), req("bad", "#fail-before")]
    )
    wait_ended(c, batch.id)
    batch_total: dict[str, int] = {}
    outcomes = {}
    for line in c.messages.batches.results(batch.id):
        outcomes[line.custom_id] = line.result.type
        if line.result.type == "succeeded":
            assert line.result.message.usage.service_tier == "batch"
            batch_total = add(batch_total, billed(line.result.message.usage))
    assert outcomes == {"ok-1": "succeeded", "ok-2": "succeeded", "bad": "errored"}
    return Traffic(tenant, total, batch_total, ids, streamed_id, batch.id)


# ---------------------------------------------------------------- usage report


def test_usage_report_sums_to_what_was_billed(acct_server: Live, traffic: Traffic) -> None:
    report = usage_report(
        acct_server,
        starting_at=since_yesterday(),
        **{"group_by[]": ["service_tier", "model"], "workspace_ids[]": [traffic.tenant.workspace_id]},
    )
    assert set(report) == {"data", "has_more", "next_page"}
    results = results_of(report)
    by_tier: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        assert r["model"] == SERVED
        assert r["workspace_id"] is None and r["api_key_id"] is None  # not grouped by them
        assert r["server_tool_use"] == {"web_search_requests": 0}
        by_tier.setdefault(r["service_tier"], []).append(r)
    assert set(by_tier) == {"standard", "batch"}
    assert summed(by_tier["standard"]) == add({k: 0 for k in TOKEN_FIELDS}, traffic.live_tokens)
    assert summed(by_tier["batch"]) == add({k: 0 for k in TOKEN_FIELDS}, traffic.batch_tokens)


def test_models_filter_accepts_aliases_and_served_ids(acct_server: Live, traffic: Traffic) -> None:
    ws = {"workspace_ids[]": [traffic.tenant.workspace_id]}
    everything = summed(results_of(usage_report(acct_server, starting_at=since_yesterday(), **ws)))
    for name in (MODEL, SERVED):
        got = summed(results_of(usage_report(acct_server, starting_at=since_yesterday(), models=[name], **ws)))
        assert got == everything
    other = usage_report(acct_server, starting_at=since_yesterday(), models=["claude-nonexistent"], **ws)
    assert results_of(other) == []


def test_dimensions_a_local_server_has_one_value_for(acct_server: Live, traffic: Traffic) -> None:
    ws = {"workspace_ids[]": [traffic.tenant.workspace_id]}
    start = since_yesterday()
    grouped = usage_report(acct_server, starting_at=start, **{"group_by[]": ["inference_geo", "speed"], **ws})
    results = results_of(grouped)
    assert results and all((r["inference_geo"], r["speed"]) == ("not_available", "standard") for r in results)
    assert all(r["context_window"] is None for r in results)
    geo = usage_report(acct_server, starting_at=start, inference_geos=["not_available"], **ws)
    assert summed(results_of(geo)) == summed(results)
    assert results_of(usage_report(acct_server, starting_at=start, inference_geos=["us"], **ws)) == []
    assert results_of(usage_report(acct_server, starting_at=start, **{"account_ids[]": ["acct_1"], **ws})) == []
    windows = usage_report(acct_server, starting_at=start, **{"group_by[]": ["context_window"], **ws})
    assert {r["context_window"] for r in results_of(windows)} == {"0-200k"}


def test_every_request_and_batch_item_records_a_row(acct_server: Live, traffic: Traffic) -> None:
    rows = usage_rows(acct_server, traffic.tenant.workspace_id)
    live = [r for r in rows if not r["batch"]]
    batch = [r for r in rows if r["batch"]]
    assert [r["request_id"] for r in live] == traffic.live_request_ids
    for r in live:
        assert (r["api_key_id"], r["model"], r["service_tier"], r["outcome"]) == (
            traffic.tenant.key_id,
            SERVED,
            "standard",
            "succeeded",
        )
        assert r["latency_ms"] > 0 and r["ttft_ms"] is not None and 0 < r["ttft_ms"] <= r["latency_ms"]
    assert len(batch) == 3
    assert sorted(r["outcome"] for r in batch) == ["errored", "succeeded", "succeeded"]
    for r in batch:
        assert r["api_key_id"] is None and r["service_tier"] == "batch" and r["request_id"].startswith("req_")
        if r["outcome"] == "errored":  # not billed
            assert (r["input_tokens"], r["output_tokens"], r["ttft_ms"]) == (0, 0, None)


def test_group_by_api_key_and_workspace(acct_server: Live) -> None:
    first = new_tenant(acct_server)
    second = new_tenant(acct_server, first.workspace_id)
    third = new_tenant(acct_server)
    expected: dict[tuple[str, str], dict[str, int]] = {}
    for tenant, text in ((first, "#say:one"), (second, "#say:two two"), (second, "#say:3"), (third, "#say:four")):
        msg = tenant.client.messages.create(model=MODEL, max_tokens=16, messages=user(text))
        key = (tenant.workspace_id, tenant.key_id)
        expected[key] = add(expected.get(key, {k: 0 for k in TOKEN_FIELDS}), billed(msg.usage))
    report = usage_report(
        acct_server,
        starting_at=since_yesterday(),
        **{
            "group_by[]": ["api_key_id", "workspace_id"],
            "workspace_ids[]": [first.workspace_id, third.workspace_id],
        },
    )
    got: dict[tuple[str, str], dict[str, int]] = {}
    for r in results_of(report):
        key = (r["workspace_id"], r["api_key_id"])
        got[key] = add(got.get(key, {k: 0 for k in TOKEN_FIELDS}), report_tokens(r))
    assert got == expected
    only = usage_report(acct_server, starting_at=since_yesterday(), **{"api_key_ids[]": [second.key_id]})
    assert summed(results_of(only)) == expected[(second.workspace_id, second.key_id)]


def test_buckets_pages_and_window(acct_server: Live) -> None:
    tenant = new_tenant(acct_server)
    before = time.time()
    time.sleep(0.01)
    msg = tenant.client.messages.create(model=MODEL, max_tokens=16, messages=user("#say:bucketed"))
    time.sleep(0.01)
    after = time.time()
    mine = {"workspace_ids[]": [tenant.workspace_id]}
    want = add({k: 0 for k in TOKEN_FIELDS}, billed(msg.usage))

    # Hourly buckets from 5 h ago (not on an hour boundary), two per page.
    start = before - 5 * 3600 + 17 * 60 + 3.5
    pages, token = [], None
    while True:
        params: dict[str, Any] = {"starting_at": iso(start), "bucket_width": "1h", "limit": 2, **mine}
        if token:
            params["page"] = token
        page = usage_report(acct_server, **params)
        pages.append(page)
        if not page["has_more"]:
            assert page["next_page"] is None
            break
        token = page["next_page"]
        assert token.startswith("page_")
        stamp = base64.b64decode(token[len("page_") :]).decode()
        assert stamp == page["data"][-1]["ending_at"]  # the next bucket's start
        assert len(page["data"]) == 2
    buckets = [b for p in pages for b in p["data"]]
    first = math.floor(start / 3600) * 3600
    assert buckets[0]["starting_at"] == datetime.fromtimestamp(first, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    starts = [datetime.fromisoformat(b["starting_at"]).timestamp() for b in buckets]
    ends = [datetime.fromisoformat(b["ending_at"]).timestamp() for b in buckets]
    assert starts == [first + 3600 * i for i in range(len(buckets))]
    assert ends == [s + 3600 for s in starts]
    assert starts[-1] <= time.time() < ends[-1] + 1  # up to the current hour
    assert summed([r for b in buckets for r in b["results"]]) == want

    # Minute buckets: the usage is in the bucket of its minute.
    minutes = usage_report(acct_server, starting_at=iso(before - 120), bucket_width="1m", **mine)
    assert all(
        datetime.fromisoformat(b["ending_at"]).timestamp() - datetime.fromisoformat(b["starting_at"]).timestamp() == 60
        for b in minutes["data"]
    )
    assert summed(results_of(minutes)) == want
    hit = [b for b in minutes["data"] if b["results"]]
    assert len(hit) == 1
    assert datetime.fromisoformat(hit[0]["starting_at"]).timestamp() <= after

    # ending_at stops counting: nothing before the request, everything up to after it.
    assert results_of(usage_report(acct_server, starting_at=iso(before - 60), ending_at=iso(before), **mine)) == []
    upto = usage_report(acct_server, starting_at=iso(before - 60), ending_at=iso(after), bucket_width="1m", **mine)
    assert summed(results_of(upto)) == want

    # Daily buckets: 7 per page by default.
    week = usage_report(acct_server, starting_at=iso(before - 10 * 86400), **mine)
    assert len(week["data"]) == 7 and week["has_more"] is True


def test_report_parameter_errors(acct_server: Live, traffic: Traffic) -> None:
    usage = "/v1/organizations/usage_report/messages"
    cost = "/v1/organizations/cost_report"
    start = since_yesterday()
    cases: list[tuple[str, dict[str, Any], str]] = [
        (usage, {}, "starting_at"),
        (usage, {"starting_at": "yesterday"}, "starting_at"),
        (usage, {"starting_at": "1969-12-31T00:00:00Z"}, "starting_at"),
        (usage, {"starting_at": start, "bucket_width": "2h"}, "bucket_width"),
        (usage, {"starting_at": start, "limit": 32}, "limit"),
        (usage, {"starting_at": start, "bucket_width": "1m", "limit": 1441}, "limit"),
        (usage, {"starting_at": start, "limit": 0}, "limit"),
        (usage, {"starting_at": start, "group_by[]": ["colour"]}, "group_by"),
        (usage, {"starting_at": start, "ending_at": iso(time.time() - 2 * 86400)}, "ending_at"),
        (usage, {"starting_at": start, "page": "page_bm9wZQ=="}, "page"),
        (cost, {"starting_at": start, "bucket_width": "1h"}, "bucket_width"),
        (cost, {"starting_at": start, "group_by[]": ["model"]}, "group_by"),
        (cost, {"starting_at": start, "limit": 32}, "limit"),
    ]
    for path, params, field in cases:
        resp = admin_get(acct_server, path, params)
        assert resp.status_code == 400, (params, resp.text)
        body = resp.json()
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        assert body["error"]["message"].startswith(field), body
        assert body["request_id"] == resp.headers["request-id"]

    ordinary = admin_get(acct_server, usage, {"starting_at": start}, key=traffic.tenant.key)
    assert ordinary.status_code == 403 and ordinary.json()["error"]["type"] == "permission_error"
    for path in (usage, cost):
        unknown = admin_get(acct_server, path, {"starting_at": start}, key="sk-ant-admin01-nope")
        assert unknown.status_code == 401 and unknown.json()["error"]["type"] == "authentication_error"


# ---------------------------------------------------------------- cost report


def test_cost_report_amounts_are_the_priced_usage(acct_server: Live, traffic: Traffic) -> None:
    report = cost_report(acct_server, starting_at=since_yesterday(), **{"group_by[]": ["workspace_id", "description"]})
    mine = [r for r in results_of(report) if r["workspace_id"] == traffic.tenant.workspace_id]
    want: dict[tuple[str, str], Decimal] = {}
    for tier, tokens in (("standard", traffic.live_tokens), ("batch", traffic.batch_tokens)):
        for kind, cents in expected_cents(tokens, batch=tier == "batch").items():
            if tokens[kind]:
                want[(tier, kind)] = want.get((tier, kind), Decimal(0)) + cents
    got: dict[tuple[str, str], Decimal] = {}
    for r in mine:
        assert r["currency"] == "USD" and r["cost_type"] == "tokens" and r["model"] == SERVED
        assert re.fullmatch(r"\d+(\.\d+)?", r["amount"]), r["amount"]  # cents, no exponent
        assert SERVED in r["description"] and (r["service_tier"] == "batch") == r["description"].endswith("(Batch)")
        key = (r["service_tier"], r["token_type"])
        got[key] = got.get(key, Decimal(0)) + Decimal(r["amount"])
    assert got == want

    totals = cost_report(acct_server, starting_at=since_yesterday(), **{"group_by[]": ["workspace_id"]})
    amounts = [Decimal(r["amount"]) for r in results_of(totals) if r["workspace_id"] == traffic.tenant.workspace_id]
    assert sum(amounts) == sum(want.values())
    for r in results_of(totals):
        assert r["description"] is None and r["token_type"] is None and r["model"] is None


def test_cost_report_ungrouped_is_the_organisation_total(acct_server: Live, traffic: Traffic) -> None:
    start = since_yesterday()
    by_workspace = cost_report(acct_server, starting_at=start, **{"group_by[]": ["workspace_id"]})
    org = cost_report(acct_server, starting_at=start)
    for grouped, whole in zip(by_workspace["data"], org["data"], strict=True):
        assert grouped["starting_at"] == whole["starting_at"]
        assert len(whole["results"]) <= 1
        assert sum(Decimal(r["amount"]) for r in grouped["results"]) == sum(
            Decimal(r["amount"]) for r in whole["results"]
        )
        assert all(r["workspace_id"] is None for r in whole["results"])


# ---------------------------------------------------------------- spend limits


def test_spend_limit_refuses_once_the_month_is_spent(acct_server: Live) -> None:
    """$3/$15 per MTok, a $0.001 limit: a few requests, then the real API's 400."""
    tenant = new_tenant(acct_server, SPEND_WORKSPACE)
    limit_cents = SPEND_LIMIT_USD * 100
    spent = Decimal(0)
    tokens: dict[str, int] = {}
    admitted = 0
    for _ in range(100):
        try:
            msg = tenant.client.messages.create(model=MODEL, max_tokens=16, messages=user("#say:spend spend"))
        except anthropic.BadRequestError as exc:
            assert spent >= limit_cents, f"refused at {spent} cents, under the limit"
            error = exc.body["error"]  # type: ignore[index]
            break
        assert spent < limit_cents, f"admitted at {spent} cents, over the limit"
        admitted += 1
        used = billed(msg.usage)
        tokens = add(tokens, used)
        spent += sum(expected_cents(used).values())
    else:
        pytest.fail("the spend limit never applied")
    assert admitted >= 2
    now = datetime.now(UTC)
    regain = (now.replace(day=1) + timedelta(days=32)).replace(day=1).strftime("%Y-%m-%d")
    assert error == {
        "type": "invalid_request_error",
        "message": "You have reached your specified workspace API usage limits. "
        f"You will regain access on {regain} at 00:00 UTC.",
    }

    # Streaming requests are refused before the stream starts; batch items error.
    with pytest.raises(anthropic.BadRequestError):
        tenant.client.messages.create(model=MODEL, max_tokens=16, messages=user("#say:x"), stream=True)
    batch = tenant.client.messages.batches.create(requests=[req("capped", "#say:nope")])
    wait_ended(tenant.client, batch.id)
    (line,) = list(tenant.client.messages.batches.results(batch.id))
    assert line.result.type == "errored"
    assert line.result.error.error.type == "invalid_request_error"  # type: ignore[union-attr]
    assert "usage limits" in line.result.error.error.message  # type: ignore[union-attr]

    # Other workspaces are not affected; refused requests were not billed.
    other = new_tenant(acct_server)
    other.client.messages.create(model=MODEL, max_tokens=16, messages=user("#say:fine"))
    report = usage_report(acct_server, starting_at=since_yesterday(), **{"workspace_ids[]": [SPEND_WORKSPACE]})
    assert summed(results_of(report)) == add({k: 0 for k in TOKEN_FIELDS}, tokens)


# ---------------------------------------------------------------- shutdown


def test_no_row_is_lost_on_a_clean_shutdown(tmp_path: Any) -> None:
    live = start_live(fake_settings(tmp_path))
    client = live.client()
    n = 12
    for i in range(n):
        client.messages.create(model=MODEL, max_tokens=8, messages=user(f"#say:row {i}"))
    live.stop()
    with open_database(None, tmp_path) as database:
        assert UsageStore(database).count() == n
