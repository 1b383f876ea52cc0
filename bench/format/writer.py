"""The runner's side of the store: the lock, meta.json first, rows appended as they are measured,
and --resume's repair and reload. The only code that writes into a run directory.

Order of writes for one repeat: its raw.csv epoch rows, then its repeats.csv row (the commit
record: a repeat without one was cut short and is dropped by --resume). A trial's summary.csv
row comes after its last repeat; at the end summary.csv is rewritten in the matrix's order.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.format.fields import META_FILE, RAW, REPEATS, SCHEMA_VERSION, SUMMARY
from bench.format.io import CsvAppender, StoreError, Tables, read_tables, repair_torn_tail, write_json, write_table
from bench.format.runs import check_consistency, read_meta, spec_of


def check_resumable(run_dir: Path) -> tuple[dict[str, Any], Any, Tables]:
    """(meta, spec, tables) of a run directory that --resume can continue; StoreError otherwise.
    Reads only: a directory refused here is left exactly as it was."""
    meta = read_meta(run_dir)
    if meta["schema_version"] != SCHEMA_VERSION:
        raise StoreError(f"{Path(run_dir) / META_FILE}: schema_version {meta['schema_version']}: resume it with the "
                         f"version that started it, or `python -m bench.store upgrade` it into a new directory first")
    spec = spec_of(meta, Path(run_dir) / META_FILE)
    tables = read_tables(run_dir)
    check_consistency(run_dir, meta, spec, tables)  # a finished run must be whole; a killed one may stop anywhere
    return meta, spec, tables


class RunDirBusy(StoreError):
    """Another process is writing into the run directory."""


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Exclusive lock on the run directory; released by the kernel if this process dies."""
    fh = open(Path(run_dir) / ".lock", "a+")  # noqa: SIM115 - held open as long as the lock
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise RunDirBusy(f"{run_dir}: another run is writing to it") from None
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


@dataclass
class Committed:
    """What --resume found on disk: per trial, its committed repeats and their epoch times, and the
    summary rows of finished trials."""

    repeats: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    epoch_times: dict[str, list[list[float]]] = field(default_factory=lambda: defaultdict(list))
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    repairs: list[str] = field(default_factory=list)


class RunWriter:
    """Files of one run directory being filled (call inside `locked(run_dir)`)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.meta: dict[str, Any] = {}
        self._raw = self._repeats = self._summary = None

    # ---- start -----------------------------------------------------------------------------------
    def create(self, meta: Mapping[str, Any]) -> None:
        """A new run: meta.json first (before any measurement), then the three CSV files with headers."""
        self.meta = {"schema_version": SCHEMA_VERSION, **meta}
        self.save_meta()
        self._open()

    def resume(self, started: str) -> Committed:
        """Reopen a killed run: check everything first (a bad directory is refused untouched), then
        repair torn last lines, drop the rows of repeats cut short, and return what is kept."""
        self.meta, spec, tables = check_resumable(self.run_dir)
        found = Committed()
        for table in (RAW, REPEATS, SUMMARY):
            what = repair_torn_tail(self.run_dir / table.file, table)
            if what:
                found.repairs.append(f"{table.file}: {what}")
        committed = {(r["config_id"], r["repeat"]) for r in tables.repeats.rows}
        kept_raw = [r for r in tables.raw.rows if (r["config_id"], r["repeat"]) in committed]
        if len(kept_raw) != len(tables.raw.rows):
            write_table(self.run_dir / RAW.file, RAW, kept_raw)
            found.repairs.append(f"raw.csv: {len(tables.raw.rows) - len(kept_raw)} rows of repeats cut short dropped")
        epochs: dict[tuple[str, int], list[dict]] = defaultdict(list)
        for r in kept_raw:
            epochs[(r["config_id"], r["repeat"])].append(r)
        for rep in sorted(tables.repeats.rows, key=lambda r: (r["config_id"], r["repeat"])):
            cid = rep["config_id"]
            rows = sorted(epochs[(cid, rep["repeat"])], key=lambda r: r["epoch"])
            found.repeats[cid].append(rep)
            found.epoch_times[cid].append([r["epoch_time_s"] for r in rows])
        found.finished = {r["config_id"]: r for r in tables.summary.rows}
        self.meta.setdefault("resumed_at", []).append(started)
        self.meta["finished_at"] = None
        self.save_meta()
        self._open()
        return found

    def _open(self) -> None:
        self._raw = CsvAppender(self.run_dir / RAW.file, RAW)
        self._repeats = CsvAppender(self.run_dir / REPEATS.file, REPEATS)
        self._summary = CsvAppender(self.run_dir / SUMMARY.file, SUMMARY)

    # ---- while measuring -------------------------------------------------------------------------
    def save_meta(self) -> None:
        """Write meta.json now (atomically)."""
        write_json(self.run_dir / META_FILE, self.meta, what=META_FILE)

    def write_repeat(self, raw_rows: Sequence[Mapping[str, Any]], repeat_row: Mapping[str, Any]) -> None:
        """One finished repeat: its epoch rows, then its commit record, each on disk before this returns."""
        self._raw.write(raw_rows)
        self._repeats.write([repeat_row])

    def write_summary(self, row: Mapping[str, Any]) -> None:
        """A finished trial's summary row."""
        self._summary.write([row])

    def close(self) -> None:
        """Close the CSV files."""
        for fh in (self._raw, self._repeats, self._summary):
            if fh is not None:
                fh.close()

    def finish(self, order: Sequence[str], finished_at: str) -> list[dict[str, Any]]:
        """summary.csv rewritten in the matrix's order, meta.json's finish time; returns the summary rows."""
        rows = {r["config_id"]: r for r in read_tables(self.run_dir).summary.rows}
        ordered = [rows[cid] for cid in order if cid in rows]
        write_table(self.run_dir / SUMMARY.file, SUMMARY, ordered)
        self.meta["finished_at"] = finished_at
        self.save_meta()
        return ordered


def write_run(run_dir: Path, meta: Mapping[str, Any], tables: Tables) -> None:
    """A whole run directory from rows (bench.store upgrade; synthetic runs in the tests)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / META_FILE, {**meta, "schema_version": SCHEMA_VERSION}, what=META_FILE)
    summary = [{**r, "schema_version": SCHEMA_VERSION} for r in tables.summary.rows]  # rows say what they are
    for table, rows in ((RAW, tables.raw.rows), (REPEATS, tables.repeats.rows), (SUMMARY, summary)):
        write_table(run_dir / table.file, table, rows)
