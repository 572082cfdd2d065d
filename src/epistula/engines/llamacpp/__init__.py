"""The default engine: llama.cpp through llama-cpp-python's low-level API.

:mod:`.engine` is the :class:`~epistula.engines.base.Engine`; :mod:`.scheduler` runs
continuous batching on one thread; :mod:`.slots` keeps per-sequence KV state and prefix
reuse; :mod:`.native` wraps the C API (contexts, batches, sampler chains)."""
