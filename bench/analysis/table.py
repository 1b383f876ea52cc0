"""The end-of-run table: per configuration, CPU and GPU epoch times and the GPU speed-up."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from bench.format.derive import AXIS_NAMES
from bench.format.stats import ratio_of_medians_ci

KEY = tuple(k for k in AXIS_NAMES if k not in ("device", "threads"))  # a CPU trial and its GPU partner share these


def num(value: Any) -> float:
    """A CSV cell as a float; empty cells (NaN on write) read back as NaN."""
    return math.nan if value in ("", None) else float(value)


def _ms(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return "-"
    if row["status"] != "ok":
        return row["status"]
    med, lo, hi = (num(row[k]) * 1e3 for k in ("median_s", "ci_low_s", "ci_high_s"))
    if math.isnan(lo):
        return fmt(med)
    return f"{fmt(med)} [{fmt(lo)}, {fmt(hi)}]"


def fmt(value: float) -> str:
    """Three significant figures without exponents: 1790, 47.5, 6.31, 0.0421."""
    if math.isnan(value):
        return "nan"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def threads_label(value: Any) -> str:
    """0 (or empty) means TensorFlow's default thread counts."""
    return "default" if str(value) in ("0", "") else str(value)


def speedup_table(summary: Sequence[Mapping[str, Any]], samples: Mapping[str, Sequence[float]]) -> str:
    """Text table; `samples` maps config_id to its (non-warm-up) epoch times for the speed-up CI."""
    rows = [dict(r) for r in summary]
    gpu = {tuple(str(r[k]) for k in KEY): r for r in rows if r["device"] == "gpu"}
    has_gpu_trials = bool(gpu)
    several = len({str(r.get("machine") or "") for r in rows} - {""}) > 1  # a run over several machines: say which
    replicas = any(int(r.get("replicas", 1)) > 1 for r in rows)
    lines = []
    for r in rows:
        if r["device"] != "cpu":
            continue
        g = gpu.get(tuple(str(r[k]) for k in KEY))
        line = {"mode": r["mode"], "dtype": r["dtype"], "batch": r["batch_size"], "size": r["size"],
                "threads": threads_label(r["threads"]), **({"replicas": r["replicas"]} if replicas else {}),
                "CPU epoch ms [95% CI]": _ms(r)}
        note = r["reason"] if r["status"] != "ok" else ""
        if has_gpu_trials:
            line["GPU epoch ms [95% CI]"] = _ms(g)
            speed = "-"
            if g is not None and g["status"] == "ok" and r["status"] == "ok":
                ratio, lo, hi = ratio_of_medians_ci(samples[r["config_id"]], samples[g["config_id"]])
                speed = f"{ratio:.2f}x" + ("" if math.isnan(lo) else f" [{lo:.2f}, {hi:.2f}]")
            line["GPU speed-up [95% CI]"] = speed
        if several:
            line["CPU machine"] = r.get("machine") or "-"
            if has_gpu_trials:
                line["GPU machine"] = (g.get("machine") if g is not None else "") or "-"
        line["note"] = note
        lines.append(line)
    # GPU trials with no CPU partner still get a line
    cpu_keys = {tuple(str(r[k]) for k in KEY) for r in rows if r["device"] == "cpu"}
    for key, g in gpu.items():
        if key not in cpu_keys:
            lines.append({"mode": g["mode"], "dtype": g["dtype"], "batch": g["batch_size"], "size": g["size"],
                          "threads": threads_label(g["threads"]), **({"replicas": g["replicas"]} if replicas else {}),
                          "CPU epoch ms [95% CI]": "-",
                          "GPU epoch ms [95% CI]": _ms(g), "GPU speed-up [95% CI]": "-",
                          **({"CPU machine": "-", "GPU machine": g.get("machine") or "-"} if several else {}),
                          "note": g["reason"]})
    if not lines:
        return "(no trials)"
    frame = pd.DataFrame(lines)
    if not frame["note"].astype(bool).any():
        frame = frame.drop(columns="note")
    return frame.to_string(index=False, max_colwidth=70)
