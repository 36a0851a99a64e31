"""Operator adapters: one per format and version, found through :mod:`adapters.registry`."""
