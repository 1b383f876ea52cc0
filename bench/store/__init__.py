"""Kept for `from bench.store import load_run` (the run directory's API lives in bench.format)."""

from bench.format import __all__, __dir__, __getattr__  # noqa: F401 - the same lazy exports
