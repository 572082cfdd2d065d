"""Constrained decoding: JSON Schema -> GBNF grammars for the sampler."""
