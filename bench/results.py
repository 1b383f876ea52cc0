"""Run-directory files: meta.json, raw.csv (appended as repeats finish), summary.csv. No TensorFlow.

Schema history (SCHEMA_VERSION, in meta.json and every summary.csv row):
  1: first version.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench.stats import FIELDS as STAT_FIELDS

SCHEMA_VERSION = 1

# One row per trial x repeat x epoch; epoch 0 of every repeat is the warm-up (is_warmup=1).
RAW_FIELDS = (
    "run_id", "config_id", "device", "device_actual", "mode", "dtype", "batch_size", "hidden", "threads",
    "repeat", "seed", "epoch", "is_warmup", "epoch_time_s", "train_mse", "test_mse", "peak_rss_bytes",
    "gpu_peak_bytes", "finished_utc",
)  # fmt: skip

# One row per trial. The statistics are of the non-warm-up epoch times of all its repeats.
SUMMARY_FIELDS = (
    ("schema_version", "run_id", "config_id", "device", "device_actual", "mode", "dtype", "batch_size", "hidden",
     "threads", "threads_intra", "threads_inter", "status", "reason", "stop_reason", "repeats")
    + STAT_FIELDS
    + ("warmup_s", "warmup_median_s", "steps_per_s", "samples_per_s", "gflops", "train_mse", "test_mse",
       "peak_rss_bytes", "gpu_peak_bytes", "elapsed_s")
)  # fmt: skip

META = "meta.json"
RAW = "raw.csv"
SUMMARY = "summary.csv"


class CsvAppender:
    """Appends rows to a CSV with a fixed header; each write is flushed and fsynced."""

    def __init__(self, path: Path, fields: tuple[str, ...]) -> None:
        self.path, self.fields = Path(path), fields
        repair_csv(self.path)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._fh = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115 - open for the whole run
        if new:
            self._put([dict(zip(fields, fields))])  # the header row

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows in one write and put them on disk now."""
        self._put({k: _cell(v) for k, v in row.items()} for row in rows)

    def _put(self, rows: Iterable[Mapping[str, Any]]) -> None:
        buf = io.StringIO()
        csv.DictWriter(buf, fieldnames=self.fields, extrasaction="raise").writerows(rows)
        self._fh.write(buf.getvalue())  # one write: a kill leaves whole rows or a torn last line
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


def repeat_rows(run_id: str, trial: Mapping[str, Any], repeat: int, seed: int, res: Mapping[str, Any],
                finished_utc: str) -> list[dict[str, Any]]:
    """raw.csv rows of one finished repeat (a worker's result); inverse of repeat_from_rows."""
    return [
        {"run_id": run_id, "config_id": trial["config_id"], "device": trial["device"],
         "device_actual": res["device_actual"], "mode": trial["mode"], "dtype": trial["dtype"],
         "batch_size": trial["batch_size"], "hidden": trial["hidden"], "threads": trial["threads"],
         "repeat": repeat, "seed": seed, "epoch": epoch, "is_warmup": epoch == 0, "epoch_time_s": sec,
         "train_mse": mse, "test_mse": res["test_mse"], "peak_rss_bytes": res["peak_rss_bytes"],
         "gpu_peak_bytes": res["gpu_peak_bytes"], "finished_utc": finished_utc}
        for epoch, (sec, mse) in enumerate(zip(res["epoch_times_s"], res["train_mse"]))
    ]


def repeat_from_rows(rows: list[Mapping[str, str]]) -> dict[str, Any]:
    """A repeat's result rebuilt from its raw.csv rows (wall_s: the sum of its epoch times)."""
    first = rows[0]
    times = [float(r["epoch_time_s"]) for r in rows]
    return {
        "device_actual": first["device_actual"],
        "epoch_times_s": times,
        "train_mse": [float(r["train_mse"] or "nan") for r in rows],
        "test_mse": float(first["test_mse"] or "nan"),
        "peak_rss_bytes": int(first["peak_rss_bytes"]),
        "gpu_peak_bytes": int(first["gpu_peak_bytes"]) if first["gpu_peak_bytes"] else None,
        "wall_s": sum(times),
    }


def _cell(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bool):
        return int(value)
    return value


def repair_csv(path: Path) -> None:
    """Drop a partial last line left by a kill in the middle of a write."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def read_rows(path: Path) -> list[dict[str, str]]:
    """All rows of a CSV as dicts of strings ([] when the file does not exist)."""
    if not Path(path).exists():
        return []
    repair_csv(Path(path))
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def rewrite_csv(path: Path, fields: tuple[str, ...], rows: Iterable[Mapping[str, Any]]) -> None:
    """Replace a CSV atomically (write aside, fsync, rename)."""
    tmp = Path(path).with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON atomically."""
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
