"""Issue 11 #3: no client-chosen value becomes an unbounded Prometheus label."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from conftest import LiveServer, server_fixture
from epistula.observability.metrics import method_label

server = server_fixture("server", "labels")


def _label_values(live: LiveServer, label: str) -> set[str]:
    text = httpx.get(live.base_url + "/metrics").text
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if label in sample.labels
    }


def test_invented_methods_share_one_label(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        for i in range(5):
            client.request(f"ZZ{i}", "/v1/messages")
            client.request(f"ZZ{i}", f"/v1/files/file_{i}")
    methods = _label_values(server, "method")
    assert "OTHER" in methods
    assert not any(m.startswith("ZZ") for m in methods)
    routes = _label_values(server, "route")
    assert not any(r.startswith("/v1/files/file_") for r in routes)  # route templates, not paths


def test_method_label_is_a_fixed_set() -> None:
    assert method_label("GET") == "GET"
    assert method_label("get") == "OTHER"
    assert method_label("ZZ1") == "OTHER"
