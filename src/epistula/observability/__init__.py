"""Metrics (``GET /metrics``) and structured access logs.

* :mod:`.context` - what one HTTP request did (model, key, tokens), filled in by the gate.
* :mod:`.metrics` - the Prometheus registry: request, token and latency series, engine gauges.
* :mod:`.hook` - the gate hook that feeds both.
* :mod:`.logs` - JSON and text log formatting.
"""
