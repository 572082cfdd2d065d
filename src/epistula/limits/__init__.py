"""Rate limits: token buckets per workspace (and optionally per key) per model.

* :mod:`.backend` - the :class:`LimiterBackend` protocol and the in-process backend.
* :mod:`.redis_backend` - the shared Redis backend (one Lua script per update).
* :mod:`.rules` - which configured limits apply to a request.
* :mod:`.headers` - the ``anthropic-ratelimit-*`` response headers.
* :mod:`.hook` - the gate hook that reserves, refuses and corrects.
"""
