"""Loading a run directory: meta.json checked, the CSV files typed, the files checked against each
other, and pandas frames for users and every reader (`load_run`). Never writes.

Consistency rules (a run directory that breaks one is refused, naming the file and the trial):
  * every summary.csv and repeats.csv row belongs to the run's matrix, its config_id matches its axes;
  * a trial's repeats are numbered 0..k-1 and each has exactly `epochs` raw.csv rows 0..epochs-1,
    whose warm-up and median agree with the repeats.csv row;
  * a trial in summary.csv has exactly `repeats` rows in repeats.csv and `n` timed epochs, and an ok
    trial's median is the median of those epochs;
  * a run whose meta.json says it finished has a summary row for every trial of its matrix.
Raw rows of a repeat without a repeats.csv row were cut short by a kill: they are left out (and
counted in `Run.warnings`), as is a torn last line.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.format.derive import AXIS_NAMES, axes_config_id, timed
from bench.format.errors import InputError
from bench.format.fields import (
    KNOWN_VERSIONS,
    META_FILE,
    META_KEYS,
    RAW,
    REPEATS,
    SAME_TABLES,
    SUMMARY,
    Table,
)
from bench.format.identity import MACHINE_ID_RE, facts_label, machine_label
from bench.format.io import Rows, StoreError, Tables, read_json, read_tables
from bench.format.legacy import read_old
from bench.format.spec import SweepSpec, build_spec, shard_trials, trials
from mlp_core.workloads import BUILTIN, FACTS, LATER_FACTS, WorkloadFacts, fact_type_problem

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


JSON_TYPES = {"integer": int, "string": str, "array": list, "object": dict, "null": type(None)}
REL_TOL = 1e-9  # medians recomputed from the same floats agree to rounding


# ---- meta.json -----------------------------------------------------------------------------------
def read_meta(run_dir: Path) -> dict[str, Any]:
    """meta.json of a run directory, checked: a JSON object, a known schema version, typed keys, a valid spec."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise StoreError(f"{run_dir}: no such directory")
    if not run_dir.is_dir():
        raise StoreError(f"{run_dir}: not a directory (expected a run directory)")
    path = run_dir / META_FILE
    if not path.exists():
        raise StoreError(f"{run_dir}: not a run directory (no {META_FILE})")
    meta = read_json(path)
    check_meta(meta, path)
    return meta


def check_meta(meta: Any, path: Path) -> None:
    """StoreError unless `meta` is a meta.json this version can read."""
    if not isinstance(meta, dict):
        raise StoreError(f"{path}: expected a JSON object, found {type(meta).__name__}")
    version = meta.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StoreError(f"{path}: schema_version: {version!r}: expected an integer")
    if version not in KNOWN_VERSIONS:
        raise StoreError(f"{path}: schema_version {version} is not one this eager-mlp-bench reads "
                         f"({', '.join(map(str, KNOWN_VERSIONS))}); written by a newer version?")
    for name, types, required, _ in META_KEYS:
        if name not in meta:
            if required and (version >= 2 or name in ("run_id", "spec")) and (version >= 3 or name != "machines"):
                raise StoreError(f"{path}: {name}: missing")
            continue
        value = meta[name]
        allowed = tuple(JSON_TYPES[t] for t in types.split("|"))
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise StoreError(f"{path}: {name}: {_short(value)}: expected {types.replace('|', ' or ')}")
    facts = meta.get("workload")
    if facts is not None:
        bad = [k for k in FACTS if fact_type_problem(k, facts.get(k, LATER_FACTS.get(k)))]
        if bad:
            raise StoreError(f"{path}: workload.{bad[0]}: {_short(facts.get(bad[0]))}: expected "
                             f"{fact_type_problem(bad[0], facts.get(bad[0]))}")
        recorded = (meta.get("spec") or {}).get("workload", "mlp") if isinstance(meta.get("spec"), dict) else None
        if recorded is not None and recorded != facts["spec"]:
            raise StoreError(f"{path}: workload.spec: {_short(facts['spec'])}: the sweep's workload is "
                             f"{_short(recorded)}")
        if facts["spec"] in BUILTIN and facts["name"] != facts["spec"]:
            raise StoreError(f"{path}: workload.name: {_short(facts['name'])}: the built-in {facts['spec']!r} is "
                             f"called {facts['spec']!r}")
    spec_of(meta, path)
    for key in ("host", "tensorflow", "git"):
        for sub, value in (meta.get(key) or {}).items():
            if sub in ("cpu_model", "tensorflow", "commit") and value is not None and not isinstance(value, str):
                raise StoreError(f"{path}: {key}.{sub}: {_short(value)}: expected a string")
    for sub in ("nvidia_smi", "gpus"):
        value = (meta.get("tensorflow") or {}).get(sub)
        if value is not None and not (isinstance(value, list) and all(isinstance(g, dict) for g in value)):
            raise StoreError(f"{path}: tensorflow.{sub}: {_short(value)}: expected a list of objects")
    for mid, facts in (meta.get("machines") or {}).items():
        if not MACHINE_ID_RE.match(mid) or not isinstance(facts, dict):
            raise StoreError(f"{path}: machines: {_short(mid)}: expected 8 hex digits -> an object of facts")
    for i, p in enumerate(meta.get("peak", [])):
        _check_peak(p, f"{path}: peak[{i}]")
    if "shard" in meta:
        shard = meta["shard"]
        ints = [shard.get(k) for k in ("index", "count")]
        if set(shard) != {"index", "count"} or not all(isinstance(v, int) and not isinstance(v, bool) for v in ints) \
                or not 1 <= ints[0] <= ints[1]:
            raise StoreError(f"{path}: shard: {_short(shard)}: expected {{\"index\": K, \"count\": N}}, "
                             "1 <= K <= N")


def _check_peak(p: Any, where: str) -> None:
    if not isinstance(p, dict) or not isinstance(p.get("status"), str):
        raise StoreError(f"{where}: {_short(p)}: expected an object with a status")
    if p["status"] != "ok":
        return
    for key, kind in (("device", str), ("dtype", str), ("threads", int), ("n", int), ("gflops_best", float)):
        value = p.get(key)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0 \
            if kind is not str else isinstance(value, str)
        if kind is int:
            ok = ok and float(value).is_integer()
        if not ok:
            raise StoreError(f"{where}.{key}: {_short(value)}: expected {'a string' if kind is str else 'a number'}")


def workload_of(meta: Mapping[str, Any]) -> WorkloadFacts:
    """The run's workload from meta.json `workload` (checked by check_meta); the MLP when absent."""
    return WorkloadFacts.of(meta.get("workload"))


def spec_of(meta: Mapping[str, Any], path: Path) -> SweepSpec:
    """The sweep a run was started with, validated as bench.run validates flags."""
    if not isinstance(meta.get("spec"), dict):
        raise StoreError(f"{path}: spec: {_short(meta.get('spec'))}: expected an object")
    try:
        return build_spec(meta["spec"], mode_facts=meta.get("modes"), workload_facts=workload_of(meta).facts())
    except InputError as exc:
        raise StoreError(f"{path}: spec: {exc}") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- the run -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """A run directory, loaded and checked (see the module docstring). Frames are typed: numbers as
    numbers, empty reasons as '', missing values as NaN / <NA>."""

    path: Path
    meta: dict[str, Any]
    spec: SweepSpec
    summary: pd.DataFrame  # summary.csv: one row per finished trial
    repeats: pd.DataFrame  # repeats.csv: one row per trial x repeat
    raw: pd.DataFrame  # raw.csv's epoch rows of committed repeats, with the trial's axes joined
    samples: dict[str, np.ndarray]  # config_id -> timed epoch times (s) of every committed repeat
    warnings: tuple[str, ...] = ()

    @property
    def schema_version(self) -> int:
        """Format version of the files on disk (1 is read through bench.format.legacy)."""
        return int(self.meta["schema_version"])

    @property
    def n_train(self) -> int:
        """Training samples per epoch."""
        return self.spec.n_train

    @property
    def workload(self) -> WorkloadFacts:
        """The workload it measured, as meta.json records it (the MLP for runs from before workloads)."""
        return workload_of(self.meta)

    @property
    def ok(self) -> pd.DataFrame:
        """Trials that measured something trustworthy."""
        return self.summary[self.summary["status"] == "ok"]

    @property
    def one_device(self) -> pd.DataFrame:
        """The ok trials on one device (replicas 1): what every per-device comparison and figure uses; the
        replicas > 1 trials are compared with them in analysis.json's `scaling`."""
        ok = self.ok
        return ok[ok["replicas"] == 1]

    @functools.cached_property
    def machines(self) -> dict[str, str]:
        """machine id -> label ('AMD EPYC 7B13 x2, no GPU') of every machine the run's rows name."""
        used = sorted(set(self.repeats["machine"]) | set(self.summary["machine"]) - {""})
        facts = self.meta.get("machines") or {}
        return {m: facts_label(facts.get(m) or {}) for m in used}

    @property
    def label(self) -> str:
        """The machine fingerprint that tells runs apart in a legend (every machine, in a run over several)."""
        machines = self.machines
        if len(machines) > 1:
            return f"{len(machines)} machines: " + "; ".join(f"{m} {label}" for m, label in machines.items())
        return machine_label(self.meta)


def read_any(run_dir: Path, meta: dict[str, Any]) -> tuple[dict[str, Any], Tables]:
    """(meta, tables) of a run directory of any known schema, in the current one (older schemas are
    converted in memory by bench.format.legacy; nothing on disk changes)."""
    if meta["schema_version"] in SAME_TABLES:
        return meta, read_tables(run_dir)
    return read_old(run_dir, meta)


def load_run(path: str | Path) -> Run:
    """Read and check a run directory: `run = load_run("results/runs/<id>")`; then `run.summary`,
    `run.repeats`, `run.raw` are pandas DataFrames. StoreError (exit 2 in every CLI) when it is not
    a readable, consistent run directory."""
    import numpy as np

    run_dir = Path(path)
    meta, tables = read_any(run_dir, read_meta(run_dir))
    spec = spec_of(meta, run_dir / META_FILE)
    raw_kept, warnings = check_consistency(run_dir, meta, spec, tables)
    axes = {r["config_id"]: r for r in tables.repeats.rows}
    samples: dict[str, list[float]] = defaultdict(list)
    for row in raw_kept:
        if not row["is_warmup"]:
            samples[row["config_id"]].append(row["epoch_time_s"])
    raw_joined = [{**row, **{k: axes[row["config_id"]][k] for k in AXIS_NAMES}} for row in raw_kept]
    return Run(
        path=run_dir, meta=meta, spec=spec,
        summary=frame(SUMMARY, tables.summary.rows),
        repeats=frame(REPEATS, tables.repeats.rows),
        raw=frame(RAW, raw_joined, extra=[REPEATS.field(k) for k in AXIS_NAMES]),
        samples={cid: np.asarray(v, dtype=float) for cid, v in samples.items()},
        warnings=tuple(warnings),
    )


def frame(table: Table, rows: list[dict[str, Any]], extra=()) -> pd.DataFrame:
    """Typed DataFrame of a table's rows: int64 (Int64 where empty is allowed), float64, bool, str."""
    import pandas as pd

    columns = {}
    for f in (*table.fields, *extra):
        values = [r[f.name] for r in rows]
        if f.kind == "int":
            dtype = "Int64" if f.nullable else "int64"
        elif f.kind == "float":
            dtype = "float64"
            values = [math.nan if v is None else v for v in values]
        elif f.kind == "bool":
            dtype = "bool"
        else:
            dtype = "str"
        columns[f.name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(columns)


# ---- consistency ---------------------------------------------------------------------------------
def check_consistency(run_dir: Path, meta: Mapping[str, Any], spec: SweepSpec,
                      tables: Tables) -> tuple[list[dict[str, Any]], list[str]]:
    """The module docstring's rules; returns the raw rows of committed repeats and the warnings."""
    run_dir = Path(run_dir)
    matrix = {t.config_id for t in shard_trials(trials(spec), meta.get("shard"))}
    warnings = [f"{rows.path.name}: torn last line skipped ({len(rows.torn)} characters; a write cut short by "
                f"a kill)" for rows in (tables.raw, tables.repeats, tables.summary) if rows.torn is not None]
    summary_path, repeats_path, raw_path = (run_dir / t.file for t in (SUMMARY, REPEATS, RAW))
    for path, rows in ((summary_path, tables.summary), (repeats_path, tables.repeats)):
        check_config_ids(rows)
        for row, line in zip(rows.rows, rows.lines):
            where = f"{path}: line {line}"
            if row["config_id"] not in matrix:
                raise StoreError(f"{where}: config_id {row['config_id']!r} is not in the run's matrix (meta.json spec)")
            if row["run_id"] != meta["run_id"]:
                raise StoreError(f"{where}: run_id {row['run_id']!r} is not meta.json's {meta['run_id']!r}")
            if "schema_version" in row and row["schema_version"] != meta["schema_version"]:
                raise StoreError(f"{where}: schema_version {row['schema_version']} is not meta.json's "
                                 f"{meta['schema_version']}")

    machines = meta.get("machines") or {}
    for path, rows in ((raw_path, tables.raw), (repeats_path, tables.repeats), (summary_path, tables.summary)):
        for row, line in zip(rows.rows, rows.lines):
            if row["machine"] and row["machine"] not in machines:
                raise StoreError(f"{path}: line {line}: machine {row['machine']!r} is not in meta.json's machines")
            if not row["machine"] and path != summary_path:  # (a summary row of a trial nothing measured may be empty)
                raise StoreError(f"{path}: line {line}: machine: empty (every measured row names its machine)")

    # repeats: numbered 0..k-1 per trial, each with its epochs in raw.csv
    repeats_of: dict[str, list[dict]] = defaultdict(list)
    for row in tables.repeats.rows:
        repeats_of[row["config_id"]].append(row)
    epochs_of: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for row in tables.raw.rows:
        epochs_of[(row["config_id"], row["repeat"])].append(row)
    kept = []
    for cid, reps in repeats_of.items():
        numbers = sorted(r["repeat"] for r in reps)
        if numbers != list(range(len(numbers))):
            raise StoreError(f"{repeats_path}: trial {cid}: repeats {numbers} are not numbered 0..{len(numbers) - 1}")
        for rep in reps:
            epochs = sorted(epochs_of.get((cid, rep["repeat"]), []), key=lambda r: r["epoch"])
            where = f"{raw_path}: trial {cid} repeat {rep['repeat']}"
            if any(e["machine"] != rep["machine"] for e in epochs):
                raise StoreError(f"{where}: epoch rows name machine(s) {sorted({e['machine'] for e in epochs})}, "
                                 f"repeats.csv {rep['machine']!r}")
            if [e["epoch"] for e in epochs] != list(range(rep["epochs"])):
                raise StoreError(f"{where}: epochs {[e['epoch'] for e in epochs]}, but repeats.csv records "
                                 f"{rep['epochs']} (0..{rep['epochs'] - 1})")
            if any(e["is_warmup"] != (e["epoch"] == 0) for e in epochs):
                raise StoreError(f"{where}: is_warmup must be 1 for epoch 0 and only for it")
            times = [e["epoch_time_s"] for e in epochs]
            med = statistics.median(timed(times)) if len(times) > 1 else math.nan
            if not (_close(times[0], rep["warmup_s"]) and _close(med, rep["median_epoch_s"])):
                raise StoreError(f"{where}: epoch times do not match repeats.csv's warmup_s / median_epoch_s")
            kept.extend(epochs)
    uncommitted = len(tables.raw.rows) - len(kept)
    if uncommitted:
        warnings.append(f"raw.csv: {uncommitted} epoch rows of repeats cut short by a kill left out "
                        f"(no repeats.csv row)")

    # summary: each trial's counts and median agree with what is on disk
    for row, line in zip(tables.summary.rows, tables.summary.lines):
        cid = row["config_id"]
        where = f"{summary_path}: line {line} ({cid})"
        reps = repeats_of.get(cid, [])
        samples = [e["epoch_time_s"] for r in reps for e in epochs_of[(cid, r["repeat"])] if not e["is_warmup"]]
        if len({r["machine"] for r in reps}) > 1:
            raise StoreError(f"{repeats_path}: trial {cid}: repeats ran on machines "
                             f"{sorted({r['machine'] for r in reps})}: a trial is measured on one machine")
        if reps and row["machine"] != reps[0]["machine"]:
            raise StoreError(f"{where}: machine {row['machine']!r}, but its repeats ran on {reps[0]['machine']!r}")
        if row["repeats"] != len(reps):
            raise StoreError(f"{where}: repeats {row['repeats']}, but repeats.csv has {len(reps)} for this trial")
        if (row["n"] or 0) != len(samples):
            raise StoreError(f"{where}: n {row['n']}, but raw.csv has {len(samples)} timed epochs for this trial")
        if row["status"] == "ok":
            if not samples:
                raise StoreError(f"{where}: status ok with no measured epoch")
            if not _close(statistics.median(samples), row["median_s"]):
                raise StoreError(f"{where}: median_s {row['median_s']!r} is not the median of the trial's "
                                 f"raw.csv epochs ({statistics.median(samples)!r})")
    if meta.get("finished_at"):
        missing = sorted(matrix - {r["config_id"] for r in tables.summary.rows})
        if missing:
            raise StoreError(f"{summary_path}: the run finished ({meta['finished_at']}) but {len(missing)} trial(s) "
                             f"have no row, e.g. {missing[0]}: the file was cut short?")
    return kept, warnings


def check_config_ids(rows: Rows) -> None:
    """StoreError unless every row's config_id is the one its axes make."""
    for row, line in zip(rows.rows, rows.lines):
        if axes_config_id(row) != row["config_id"]:
            raise StoreError(f"{rows.path}: line {line}: config_id {row['config_id']!r} does not match the row's "
                             f"axes ({axes_config_id(row)})")


def _close(a: float | None, b: float | None) -> bool:
    """Equal to rounding; two missing values are equal."""
    a_missing, b_missing = a is None or math.isnan(a), b is None or math.isnan(b)
    if a_missing or b_missing:
        return a_missing and b_missing
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-15)
