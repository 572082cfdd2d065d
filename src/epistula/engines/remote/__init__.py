"""The remote engine: generation on llama-server, vLLM or SGLang upstreams over token-level APIs."""
