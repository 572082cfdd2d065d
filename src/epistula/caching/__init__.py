"""Anthropic prompt caching: breakpoints, the per-engine KV cache store, usage arithmetic.

* :mod:`.breakpoints` finds a request's ``cache_control`` breakpoints in the API's
  order (tools -> system -> messages) and cuts a request after a given block.
* :mod:`.prefixes` turns breakpoints into token offsets of the rendered prompt.
* :mod:`.store` keeps cached prefixes per namespace (workspace) under a byte budget
  with TTLs and LRU eviction, and plans each request's reads and writes.
* :mod:`.accounting` is the usage arithmetic (read / creation by TTL / input).

The store is engine-independent: the llama.cpp engine keeps KV snapshots in it,
the fake engine only their sizes, so both report the same usage.
"""
