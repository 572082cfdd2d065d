"""epistula: a self-hosted implementation of the Anthropic Claude API on local models."""

__version__ = "0.1.0"
