"""The vLLM engine: vLLM's async engine in process, on GPUs (the ``epistula[vllm]`` extra)."""
