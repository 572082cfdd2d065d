"""Anthropic wire types (pydantic v2, no behaviour). Names follow the official SDK."""
