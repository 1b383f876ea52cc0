"""Run directories of schema 1 to 6, read on purpose: their files are checked against the columns their version
wrote and turned into the current rows in memory (nothing on disk changes).

Versions 1 to 6 trained the mean squared error only and named its columns so (train_mse, test_mse and their
summaries): they read as loss mse under the loss columns of 7, with no metrics.

Version 1 kept per-repeat values (test_mse, peak memory, finish time) on every raw.csv epoch row
and had no repeats.csv; its summary.csv called the median over repeats of the final train MSE
`train_mse` and of the test MSE `test_mse`. `python -m bench.store upgrade OLD NEW` writes a
version 1 directory out as the current version.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.format.derive import repeat_row
from bench.format.fields import METRIC_DOCS, RAW, REPEATS, STAT_FIELDS, SUMMARY, Field, Table
from bench.format.identity import legacy_machine
from bench.format.io import TIME_RE, Rows, Tables, read_table
from bench.format.messages import RepeatResult

HIDDEN = Field("hidden", "int", "hidden-layer width (schema < 5; the MLP's size)", "units", minimum=1)


# schema 7's loss columns -> what 1 to 6 called them (the loss was the MSE)
LOSS_COLUMNS = {"train_loss": "train_mse", "test_loss": "test_mse",
                **{f"{k}_{s}": f"{v}_{s}" for k, v in (("train_loss", "train_mse"), ("test_loss", "test_mse"))
                   for s in ("median", "min", "max")}}
_LATER = {"loss", *(f"test_{m}" for m in METRIC_DOCS), *(f"test_{m}_median" for m in METRIC_DOCS)}


def before_losses(table: Table) -> Table:
    """A table as schema < 7 wrote it: the loss columns called mse, no `loss`, no metrics."""
    return replace(table, fields=tuple(replace(f, name=LOSS_COLUMNS.get(f.name, f.name)) for f in table.fields
                                       if f.name not in _LATER))


def as_loss_rows(rows: list[dict[str, Any]], table: str) -> None:
    """Rows of schema < 7 in place (of table "raw", "repeats" or "summary"): their MSE columns under the loss
    names; repeats and summary rows with empty metrics, summary rows with loss mse."""
    for row in rows:
        for new, old in LOSS_COLUMNS.items():
            if old in row:
                row[new] = row.pop(old)
        if table == "summary":
            row["loss"] = "mse"
        for name in METRIC_DOCS if table != "raw" else ():
            row.setdefault(f"test_{name}_median" if table == "summary" else f"test_{name}", None)


def before_workloads(table: Table) -> Table:
    """A table as schema < 5 wrote it: no `workload`, the MLP's size called `hidden`."""
    return replace(table, fields=tuple(HIDDEN if f.name == "size" else f for f in table.fields
                                       if f.name != "workload"))


def as_workload_rows(rows: list[dict[str, Any]]) -> None:
    """Rows of schema < 5 in place: workload mlp, its size the `hidden` they carry."""
    for row in rows:
        if "hidden" in row:
            row["size"] = row.pop("hidden")
            row["workload"] = "mlp"


def _v1(table: Table, names: str, changed: dict[str, Field]) -> Table:
    by_name = {f.name: f for t in (RAW, REPEATS, SUMMARY) for f in before_losses(t).fields}
    by_name["hidden"] = HIDDEN
    fields = tuple(changed.get(n) or by_name[n] for n in names.split())
    return replace(table, fields=fields)


_LOOSE_TIME = Field("finished_utc", "str", "when the repeat finished (schema 1: free text)")
_TEST_MSE = Field("test_mse", "float", "test MSE", nullable=True, finite=False)
_TRAIN_MSE = Field("train_mse", "float", "train MSE", nullable=True, finite=False)
_WARMUP = Field("warmup_s", "float", "first repeat's warm-up", "s", nullable=True, minimum=0)
_REPEATS_V1 = Field("repeats", "int", "repeats", minimum=0)
RAW_V1 = _v1(RAW, "run_id config_id device device_actual mode dtype batch_size hidden threads repeat seed epoch "
             "is_warmup epoch_time_s train_mse test_mse peak_rss_bytes gpu_peak_bytes finished_utc",
             {"finished_utc": _LOOSE_TIME, "test_mse": _TEST_MSE})
RAW_V1 = replace(RAW_V1, key=("config_id", "repeat", "epoch"))
SUMMARY_V1 = _v1(SUMMARY, "schema_version run_id config_id device device_actual mode dtype batch_size hidden threads "
                 "threads_intra threads_inter status reason stop_reason repeats " + " ".join(STAT_FIELDS) +
                 " warmup_s warmup_median_s steps_per_s samples_per_s gflops train_mse test_mse peak_rss_bytes "
                 "gpu_peak_bytes elapsed_s",
                 {"warmup_s": _WARMUP, "train_mse": _TRAIN_MSE, "test_mse": _TEST_MSE, "repeats": _REPEATS_V1})


def read_v1(run_dir: Path, meta: dict[str, Any]):
    """The current-schema Tables of a version 1 run directory (in memory)."""
    run_dir = Path(run_dir)
    raw = read_table(run_dir / "raw.csv", RAW_V1)
    summary = read_table(run_dir / "summary.csv", SUMMARY_V1)
    by_repeat: dict[tuple[str, int], list[dict]] = defaultdict(list)
    as_workload_rows(raw.rows)
    as_workload_rows(summary.rows)
    for row in raw.rows:
        row["replicas"] = 1  # (the axis came with schema 3)
        by_repeat[(row["config_id"], row["repeat"])].append(row)
    repeats, raw_rows = [], []
    for (_cid, rep), rows in sorted(by_repeat.items()):
        rows.sort(key=lambda r: r["epoch"])
        first = rows[0]
        times = [r["epoch_time_s"] for r in rows]
        mses = [r.pop("train_mse") for r in rows]
        finite = all(m is not None and math.isfinite(m) for m in [*mses, first["test_mse"]])
        when = first["finished_utc"] if _is_time(first["finished_utc"]) else meta.get("started_at") or ""
        res = RepeatResult(status="ok" if finite else "diverged", reason="", wall_s=None, worker_pid=None,
                           started_utc="", device_actual=first["device_actual"], epoch_times_s=times,
                           train_loss=mses, test_loss=first["test_mse"], peak_rss_bytes=first["peak_rss_bytes"],
                           gpu_peak_bytes=first["gpu_peak_bytes"])
        repeats.append(repeat_row(res, run_id=first["run_id"], axes=first, repeat=rep, seed=first["seed"],
                                  finished_utc=when, machine="", node=""))
        raw_rows.extend({**{k: r.get(k, "") for k in RAW.names}, "train_loss": m} for r, m in zip(rows, mses))
    by_trial: dict[str, list[dict]] = defaultdict(list)
    for r in repeats:
        by_trial[r["config_id"]].append(r)
    out_summary = []
    for row in summary.rows:
        reps = by_trial.get(row["config_id"], [])
        new = {k: row.get(k) for k in SUMMARY.names}
        new["repeats"] = row["repeats"]
        for name, old in (("train_loss", "train_mse"), ("test_loss", "test_mse")):
            values = [r[name] for r in reps if r[name] is not None and not math.isnan(r[name])]
            new[f"{name}_median"] = row[old]
            new[f"{name}_min"] = min(values, default=None)
            new[f"{name}_max"] = max(values, default=None)
        new["loss"] = "mse"
        new["warmup_max_s"] = max((r["warmup_s"] for r in reps), default=None)
        new["finished_utc"] = max((r["finished_utc"] for r in reps), default="") or meta.get("started_at") or ""
        out_summary.append(new)
    return Tables(Rows(raw_rows, list(range(2, 2 + len(raw_rows))), raw.torn, raw.path),
                  Rows(repeats, list(range(2, 2 + len(repeats))), None, run_dir / "repeats.csv"),
                  Rows(out_summary, summary.lines, summary.torn, summary.path))


def _is_time(text: str) -> bool:
    return bool(TIME_RE.match(text or ""))


def _without(table: Table, *names: str) -> Table:
    return replace(table, fields=tuple(f for f in table.fields if f.name not in names))


RAW_V6, REPEATS_V6, SUMMARY_V6 = (before_losses(t) for t in (RAW, REPEATS, SUMMARY))
RAW_V4, REPEATS_V4, SUMMARY_V4 = (before_workloads(t) for t in (RAW_V6, REPEATS_V6, SUMMARY_V6))
RAW_V2, REPEATS_V2, SUMMARY_V2 = _without(RAW_V4, "machine"), \
    _without(REPEATS_V4, "machine", "node", "replicas", "cpus"), _without(SUMMARY_V4, "machine", "node", "replicas")
REPEATS_V3 = _without(REPEATS_V4, "cpus")


def read_old(run_dir: Path, meta: dict[str, Any]):
    """(meta, Tables) of a schema 1 to 6 run directory in the current schema (in memory): loss mse under the loss
    columns; before 5, workload mlp, its size their `hidden`; for 1 and 2 its one machine, fingerprinted from
    meta.json's host facts, on every row and in `machines`; `cpus` empty before 4."""
    if meta["schema_version"] in (5, 6):
        tables = Tables(*(read_table(Path(run_dir) / t.file, t) for t in (RAW_V6, REPEATS_V6, SUMMARY_V6)))
    else:
        meta, tables = _read_before_workloads(Path(run_dir), meta)
        for rows in (tables.raw, tables.repeats, tables.summary):
            as_workload_rows(rows.rows)
    as_loss_rows(tables.raw.rows, "raw")
    as_loss_rows(tables.repeats.rows, "repeats")
    as_loss_rows(tables.summary.rows, "summary")
    return meta, tables


def _read_before_workloads(run_dir: Path, meta: dict[str, Any]):
    if meta["schema_version"] == 4:  # only the workload is missing
        return meta, Tables(*(read_table(run_dir / t.file, t) for t in (RAW_V4, REPEATS_V4, SUMMARY_V4)))
    if meta["schema_version"] == 3:  # the affinity is missing too
        tables = Tables(read_table(run_dir / RAW.file, RAW_V4), read_table(run_dir / REPEATS.file, REPEATS_V3),
                        read_table(run_dir / SUMMARY.file, SUMMARY_V4))
        for row in tables.repeats.rows:
            row["cpus"] = ""
        return meta, tables
    if meta["schema_version"] == 1:
        tables = read_v1(run_dir, meta)
    else:
        tables = Tables(*(read_table(run_dir / t.file, t) for t in (RAW_V2, REPEATS_V2, SUMMARY_V2)))
    mid, facts = legacy_machine(meta)
    node = str((meta.get("host") or {}).get("hostname") or "")
    for row in tables.raw.rows:
        row["machine"] = mid
    for row in (*tables.repeats.rows, *tables.summary.rows):
        row["machine"], row["node"], row["replicas"] = mid, node, 1
    for row in tables.repeats.rows:
        row["cpus"] = ""
    return {**meta, "machines": {mid: facts}}, tables
