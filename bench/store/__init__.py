"""The run directory: one owner for its files (declarations, writing, reading, checks, derived values).

    from bench.store import load_run
    run = load_run("results/runs/<run-id>")     # checked, typed pandas frames
    run.summary, run.repeats, run.raw, run.samples, run.meta

Every other module reads and writes run files through this package. No TensorFlow; pandas is
imported only by `load_run`. The names below are loaded on first use, so that importing one light
piece (bench.spec needs only `config_id`) keeps `--help` instant.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "config_id": "derive", "now_utc": "derive", "throughput": "derive", "timed": "derive",
    "ANALYSIS_FILE": "fields", "HISTORY": "fields", "META_FILE": "fields", "RAW": "fields", "REPEATS": "fields",
    "SCHEMA_VERSION": "fields", "SUMMARY": "fields", "column_dictionary": "fields",
    "StoreError": "io", "read_json": "io", "read_table": "io", "write_json": "io", "write_table": "io",
    "Run": "run", "load_run": "run", "read_meta": "run",
    "RunDirBusy": "writer", "RunWriter": "writer", "locked": "writer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bench.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bench.store.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
