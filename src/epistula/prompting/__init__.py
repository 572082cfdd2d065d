"""Anthropic request -> engine prompt (one way only)."""
