"""The format layer: what is on disk and on the wire, declared once (fields, the sweep spec, messages,
derived values, statistics, typed I/O, the run and history files, machine identity).

The run directory has one owner here (declarations, writing, reading, checks, derived values).

    from bench.format import load_run
    run = load_run("results/runs/<run-id>")     # checked, typed pandas frames
    run.summary, run.repeats, run.raw, run.samples, run.meta

Every other module reads and writes run files through this package. No TensorFlow, no subprocess,
no Ray; pandas is imported only by `load_run`. Imports nothing of bench but itself, and mlp_core's
light declarations. The names below are loaded on first use, so that importing one light piece
(bench.format.spec needs only `config_id`) keeps `--help` instant.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "config_id": "derive", "now_utc": "derive", "throughput": "derive", "timed": "derive",
    "ANALYSIS_FILE": "fields", "HISTORY": "fields", "META_FILE": "fields", "RAW": "fields", "REPEATS": "fields",
    "SCHEMA_VERSION": "fields", "SUMMARY": "fields", "column_dictionary": "fields",
    "StoreError": "io", "read_json": "io", "read_table": "io", "write_json": "io", "write_table": "io",
    "Run": "runs", "load_run": "runs", "read_meta": "runs",
    "RunDirBusy": "writer", "RunWriter": "writer", "locked": "writer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bench.format' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bench.format.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
