"""Fuzz every described operation with schemathesis against a real server on a real socket.

The schema is the OpenAPI document generated from the operations the routes are built from
(``epistula.api.surface``); data is drawn in
both modes: *positive* (valid per the description) and *negative* (violating it: wrong
types, missing or extra fields, bad headers, bad paths), through schemathesis' coverage
phase (boundaries, one mutation at a time) and its fuzzing phase (random draws).

Every response must pass schemathesis' built-in checks (``not_a_server_error``, status
code / content type / response schema / response headers conformance, negative data
rejected, auth enforced, Allow header, ...; not "positive data accepted", see below) and
:func:`anthropic_envelope`: every non-2xx body is exactly the Anthropic error envelope
(OpenAI's on ``/v1/chat/completions``), with the ``error.type`` the status calls for and
the ``request_id`` of the ``request-id`` header. Batch items the fuzzer managed to create
must end without an internal error.

Budget: the coverage phase is fixed (~14,000 negative cases); ``EPISTULA_TEST_FUZZ_EXAMPLES``
fuzzing examples per operation (default 40); together about a minute on a quiet two-core
machine. ``EPISTULA_TEST_FUZZ_SEED`` is fixed by default so CI runs are reproducible (set
another, or ``random``, to explore; ``EPISTULA_TEST_FUZZ_PHASES=fuzzing`` for long hunts).
The number of cases tried is printed in the terminal summary; a default run sends about
14,900, and a whole run that sends fewer than ``MIN_CASES`` fails (12,760 with the defaults:
12,000 coverage cases plus half the fuzzing budget of the 38 operations).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection

from conftest import MODEL
from epistula.api.surface import document

from .conftest import ADMIN_KEY, ERROR_TYPES, FuzzServer, record_latency, selected

EXAMPLES = int(os.environ.get("EPISTULA_TEST_FUZZ_EXAMPLES", "40"))
_SEED = os.environ.get("EPISTULA_TEST_FUZZ_SEED", "20260501")
SEED = None if _SEED == "random" else int(_SEED)
PHASES = os.environ.get("EPISTULA_TEST_FUZZ_PHASES", "coverage,fuzzing").split(",")

COVERAGE_MIN_CASES = 12_000
"""The coverage phase sends about 14,000 cases with the default seed; well below that, it broke."""
REQUEST_ID = re.compile(r"req_[A-Za-z0-9]{10,}")

# Prompt directives that make the fake engine misbehave on purpose (fail, overload, stall):
# what they exercise is tested elsewhere; here they would only be noise.
DIRECTIVES = re.compile(r"#(fail-before|fail-after|overload|slow|prefill|forever|think-long)")

schema = schemathesis.openapi.from_dict(document())
if SEED is not None:
    schema.config.seed = SEED
schema.config.phases.update(phases=PHASES)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES,
    database="none",
    with_security_parameters=False,
)
# The coverage phase walks every keyword of every schema; its positive half (each enum value,
# each union member...) costs a fifth of its time and the fuzzing phase draws valid data anyway.
schema.config.phases.coverage.generation.update(modes=[GenerationMode.NEGATIVE])
# A body the description allows can still be refused for what a schema cannot say (the
# first message must be from the user, text blocks must not be empty, the model must
# exist, sampling fields are gone in 2026-10-21...), so "valid data is accepted" is not
# checked; "invalid data is rejected" is, through negative_data_rejected() below.
schema.config.checks.update(excluded_check_names=["positive_data_acceptance", "negative_data_rejection"])

OPERATIONS = sum(1 for _ in schema.get_all_operations())
"""One ``test_fuzz`` item per described operation."""
MIN_CASES = (COVERAGE_MIN_CASES if "coverage" in PHASES else 0) + (
    OPERATIONS * EXAMPLES // 2 if "fuzzing" in PHASES else 0
)
"""The fewest cases a whole run may send (the run fails below it): the coverage phase's
fixed set, and half the fuzzing phase's budget (hypothesis stops early on small input
spaces, such as an operation without a body)."""

# Query parameters that are free strings: on the wire every value is one, so "negative" values
# for them (a number, null, an array sent as a repeated parameter) arrive as valid strings.
FREE_STRING = ({"type": "string"}, {"type": "array", "items": {"type": "string"}})
FREE_QUERY = {
    (method.upper(), path): {
        p["name"] for p in operation.get("parameters", []) if p.get("in") == "query" and p["schema"] in FREE_STRING
    }
    for path, item in schema.raw_schema["paths"].items()
    for method, operation in item.items()
}


def negative_data_rejected(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Schemathesis' ``negative_data_rejection``, less one false positive: a case whose only
    mutations are to free-string query parameters (schemathesis sees them as invalid, but they
    were serialized into valid strings; the server takes the last of repeated values)."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        data = case.meta.phase.data if case.meta is not None else None
        names = [m.parameter for m in getattr(data, "mutations", ())] or [getattr(data, "parameter", None)]
        free = FREE_QUERY.get((case.method.upper(), case.operation.path), set())
        if getattr(data, "parameter_location", None) is ParameterLocation.QUERY and names and set(names) <= free:
            return None
        raise


@schema.hook
def flatmap_body(ctx: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Half the bodies that name a model name one this server serves, so that requests get
    past model resolution into prompt rendering, the engine and the reply (a random model
    name is a 404 long before any of that)."""
    return st.sampled_from([body, _served_model(body)])


def _served_model(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    if isinstance(body.get("model"), str):
        return {**body, "model": MODEL}
    if isinstance(body.get("requests"), list):  # a batch: each item's params
        items = [
            {**item, "params": _served_model(item["params"])} if isinstance(item, dict) and "params" in item else item
            for item in body["requests"]
        ]
        return {**body, "requests": items}
    return body


def anthropic_envelope(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every response has a request id; every error is the Anthropic envelope with the right type."""
    header = response.headers.get("request-id", [None])[0]
    assert header is not None and REQUEST_ID.fullmatch(header), f"request-id header: {header!r}"
    if response.status_code < 400:
        return None
    ctype = response.headers.get("content-type", [""])[0]
    assert ctype.startswith("application/json"), f"error content-type: {ctype!r}"
    payload = json.loads(response.content)
    if case.path == "/v1/chat/completions" and response.status_code != 405:
        # The OpenAI-compatible endpoint answers in OpenAI's shape (an unrouted method is the router's 405).
        assert isinstance(payload, dict) and set(payload) == {"error"}, payload
        assert set(payload["error"]) == {"message", "type", "param", "code"}, payload
        assert payload["error"]["type"] == ERROR_TYPES.get(response.status_code), (response.status_code, payload)
        return None
    assert isinstance(payload, dict) and set(payload) == {"type", "error", "request_id"}, payload
    assert payload["type"] == "error", payload
    error = payload["error"]
    assert isinstance(error, dict), payload
    assert {"type", "message"} <= set(error) <= {"type", "message", "details"}, payload
    assert isinstance(error["message"], str) and error["message"], payload
    expected = ERROR_TYPES.get(response.status_code)
    assert expected is not None, f"unexpected error status {response.status_code}: {payload}"
    assert error["type"] == expected, f"{response.status_code} carries {error['type']!r}, not {expected!r}"
    assert payload["request_id"] == header, (payload["request_id"], header)
    return None


@pytest.fixture(scope="module")
def session(fuzz_server: FuzzServer) -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _uses_directive(case: schemathesis.Case) -> bool:
    try:
        text = json.dumps(case.body, default=repr)
    except (TypeError, ValueError):
        text = repr(case.body)
    return DIRECTIVES.search(text) is not None


FRAMING_HEADERS = {"content-length", "transfer-encoding"}


@schema.parametrize()
@hypothesis.settings(deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_fuzz(
    case: schemathesis.Case, fuzz_server: FuzzServer, session: requests.Session, fuzz_stats: Counter[str]
) -> None:
    if _uses_directive(case):
        fuzz_stats["skipped"] += 1
        return
    mode = "negative" if case.meta is not None and case.meta.generation.mode.is_negative else "positive"
    # Message framing is the HTTP server's (h11 answers a bad Content-Length with a plain-text
    # 400 before any application sees the request): the fuzz is about what epistula parses.
    for name in [h for h in case.headers or {} if h.lower() in FRAMING_HEADERS]:
        del case.headers[name]  # type: ignore[union-attr]
    response = case.call_and_validate(
        base_url=fuzz_server.base_url,
        session=session,
        headers={"x-api-key": ADMIN_KEY if case.path.startswith("/v1/organizations") else fuzz_server.api_key},
        additional_checks=[anthropic_envelope, negative_data_rejected],
        timeout=60,
    )
    record_latency(fuzz_stats, "schemathesis", response.elapsed)
    fuzz_stats["cases"] += 1
    fuzz_stats[mode] += 1
    fuzz_stats[f"status {response.status_code}"] += 1
    fuzz_stats[f"op {case.operation.label} {response.status_code}"] += 1


def test_the_fuzzer_ran_and_saw_both_outcomes(request: pytest.FixtureRequest, fuzz_stats: Counter[str]) -> None:
    """The fuzz can fail: it sent at least the stated number of cases, valid ones got 200s
    and invalid ones 400s."""
    if selected(request, "test_fuzz") < OPERATIONS:
        pytest.skip("the fuzz cases were deselected")
    assert fuzz_stats["cases"] >= MIN_CASES, f"only {fuzz_stats['cases']} fuzz cases ran (at least {MIN_CASES})"
    if "fuzzing" in PHASES:
        assert fuzz_stats["positive"], fuzz_stats
    assert fuzz_stats["negative"] and fuzz_stats["status 200"] and fuzz_stats["status 400"], fuzz_stats


def test_fuzzed_batches_end_without_internal_errors(
    request: pytest.FixtureRequest, fuzz_server: FuzzServer, fuzz_stats: Counter[str]
) -> None:
    """Batch items are validated when processed, so a bad item's error is a result line,
    not a response: no item the fuzzer sent may end as ``api_error`` (a 500 in disguise)."""
    if selected(request, "test_fuzz") < OPERATIONS:
        pytest.skip("the fuzz cases were deselected")
    with httpx.Client(base_url=fuzz_server.base_url, headers=fuzz_server.headers(), timeout=30) as http:
        batches = http.get("/v1/messages/batches", params={"limit": 1000}).json()["data"]
        deadline = time.monotonic() + 120
        pending = [b["id"] for b in batches]
        while pending and time.monotonic() < deadline:
            states = {i: http.get(f"/v1/messages/batches/{i}").json()["processing_status"] for i in pending}
            pending = [i for i, state in states.items() if state != "ended"]
            time.sleep(0.2 if pending else 0)
        assert not pending, f"fuzzed batches still processing after 120 s: {pending}"
        internal = []
        for batch in batches:
            resp = http.get(f"/v1/messages/batches/{batch['id']}/results")
            assert resp.status_code == 200, resp.text
            for line in resp.content.splitlines():  # bytes: only \n and \r end a line (U+2028 may be raw)
                result = json.loads(line)["result"]
                fuzz_stats[f"batch item {result['type']}"] += 1
                if result["type"] == "errored" and result["error"]["error"]["type"] == "api_error":
                    internal.append(result)
        # The runner logs each internal failure, with its traceback, under the result's request_id.
        log = fuzz_server.log()
        causes = [log[log.find(r["error"]["request_id"]) :][:4000] for r in internal]
        assert not internal, (internal, causes)
