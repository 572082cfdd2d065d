"""Inference backends behind the :class:`~epistula.engines.base.Engine` protocol."""
