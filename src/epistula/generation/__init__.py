"""Engine-neutral orchestration: prompt -> engine -> Anthropic stream events."""
