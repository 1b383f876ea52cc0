"""The run directory: one owner for its files (declarations, writing, reading, checks, derived values).

    from bench.store import load_run
    run = load_run("results/runs/<run-id>")     # checked, typed pandas frames
    run.summary, run.repeats, run.raw, run.samples, run.meta

Every other module reads and writes run files through this package. No TensorFlow; pandas is
imported only by `load_run`.
"""

from bench.store.derive import config_id, now_utc, throughput, timed
from bench.store.fields import (
    ANALYSIS_FILE,
    HISTORY,
    META_FILE,
    RAW,
    REPEATS,
    SCHEMA_VERSION,
    SUMMARY,
    column_dictionary,
)
from bench.store.io import StoreError, read_json, read_table, write_json, write_table
from bench.store.run import Run, load_run, read_meta
from bench.store.writer import RunDirBusy, RunWriter, locked

__all__ = [
    "ANALYSIS_FILE", "HISTORY", "META_FILE", "RAW", "REPEATS", "SCHEMA_VERSION", "SUMMARY", "Run", "RunDirBusy",
    "RunWriter", "StoreError", "column_dictionary", "config_id", "load_run", "locked", "now_utc", "read_json",
    "read_meta", "read_table", "throughput", "timed", "write_json", "write_table",
]
