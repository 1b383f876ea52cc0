"""What the store derives from measurements, each defined once: the configuration id, the warm-up
filter, throughput (steps/s, samples/s, GFLOP/s), and the rows of raw.csv, repeats.csv and summary.csv.

The runner, the resume path, the readers' consistency checks and the pytest-benchmark suite all
call these; nothing else computes them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bench.format.fields import AXES, SCHEMA_VERSION
from bench.format.messages import RepeatResult
from bench.format.stats import summarize
from mlp_core.flops import steps_per_epoch
from mlp_core.metrics import NAMES as METRIC_NAMES
from mlp_core.workloads import DEFAULT as DEFAULT_WORKLOAD

AXIS_NAMES = tuple(f.name for f in AXES)  # the matrix's axes, in config_id order (declared in fields.py)
WARMUP_EPOCHS = 1  # epoch 0 of every repeat: tracing, compilation, first allocations


def size_letter(workload: str) -> str:
    """The size's letter in configuration ids: `h` (hidden) for the MLP, whose ids are those of runs from before
    workloads; `s` for any other workload."""
    return "h" if workload == DEFAULT_WORKLOAD else "s"


def config_id(device: str, mode: str, dtype: str, batch_size: int, size: int, threads: int, replicas: int = 1,
              workload: str = DEFAULT_WORKLOAD) -> str:
    """The stable id of a configuration, e.g. 'cpu-eager-float64-cast-b4-h20-t0' (threads 0: TF's default);
    '-r2' appended for 2 replicas (one device: no suffix, the ids of runs from before the axis). The MLP's size
    is its hidden width, `h`; any other workload's id starts with its name and writes its size `s`:
    'cnn-cpu-eager-float32-b32-s8-t0' (the MLP's ids are those of runs from before workloads)."""
    base = f"{device}-{mode}-{dtype}-b{int(batch_size)}-{size_letter(workload)}{int(size)}-t{int(threads)}"
    base = base if workload == DEFAULT_WORKLOAD else f"{workload}-{base}"
    return base if int(replicas) == 1 else f"{base}-r{int(replicas)}"


def axes_config_id(row: Mapping[str, Any]) -> str:
    """config_id of a row that carries the matrix axes."""
    return config_id(str(row["device"]), str(row["mode"]), str(row["dtype"]), row["batch_size"], row["size"],
                     row["threads"], row.get("replicas", 1), str(row.get("workload") or DEFAULT_WORKLOAD))


def timed(epoch_times: Sequence[float]) -> list[float]:
    """The epochs that count: the warm-up left out."""
    return list(epoch_times[WARMUP_EPOCHS:])


def throughput(median_s: float, n_train: int, batch_size: int, epoch_flops: float) -> dict[str, float]:
    """steps/s, samples/s and GFLOP/s of an epoch of `n_train` samples lasting `median_s` (NaN if unknown;
    GFLOP/s NaN too where the workload gives no FLOPs: `epoch_flops` NaN)."""
    if not (median_s and median_s > 0 and math.isfinite(median_s)):
        return {"steps_per_s": math.nan, "samples_per_s": math.nan, "gflops": math.nan}
    return {
        "steps_per_s": steps_per_epoch(n_train, batch_size) / median_s,
        "samples_per_s": n_train / median_s,
        "gflops": epoch_flops / median_s / 1e9,
    }


def now_utc() -> str:
    """ISO-8601 UTC timestamp, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---- rows --------------------------------------------------------------------------------------
def raw_rows(cid: str, repeat: int, epoch_times: Sequence[float], train_loss: Sequence[float], *,
             machine: str) -> list[dict]:
    """raw.csv rows of one repeat: one per epoch."""
    return [{"config_id": cid, "machine": machine, "repeat": repeat, "epoch": e, "is_warmup": e < WARMUP_EPOCHS,
             "epoch_time_s": t, "train_loss": m} for e, (t, m) in enumerate(zip(epoch_times, train_loss))]


def repeat_row(res: RepeatResult, *, run_id: str, axes: Mapping[str, Any], repeat: int, seed: int,
               finished_utc: str, machine: str, node: str) -> dict[str, Any]:
    """The repeats.csv row of one measured repeat, from the worker's result as it came (written after its
    raw.csv rows: the repeat's commit record)."""
    epoch_times, train_loss = res.epoch_times_s, res.train_loss
    times = timed(epoch_times)
    return {
        "run_id": run_id, "config_id": axes_config_id(axes), **{k: axes[k] for k in AXIS_NAMES},
        "repeat": repeat, "seed": seed, "status": res.status, "device_actual": res.device_actual,
        "machine": machine, "node": node, "worker_pid": res.worker_pid, "cpus": res.cpus,
        "epochs": len(epoch_times), "warmup_s": epoch_times[0],
        "median_epoch_s": statistics.median(times) if times else math.nan,
        "train_loss": train_loss[-1] if train_loss else math.nan, "test_loss": res.test_loss,
        **{f"test_{m}": res.metrics.get(m) for m in METRIC_NAMES},
        "peak_rss_bytes": res.peak_rss_bytes, "gpu_peak_bytes": res.gpu_peak_bytes, "wall_s": res.wall_s,
        "started_utc": res.started_utc, "finished_utc": finished_utc,
    }


def summary_row(*, run_id: str, axes: Mapping[str, Any], status: str, reason: str, stop_reason: str,
                repeats: Sequence[Mapping[str, Any]], samples: Sequence[float], n_train: int,
                threads_in_force: tuple[int, int] | None, elapsed_s: float, finished_utc: str, epoch_flops: float,
                machine: str = "", node: str = "", loss: str = "mse") -> dict[str, Any]:
    """The summary.csv row of a finished trial, from its repeats.csv rows and its timed epoch times.
    `epoch_flops`: FLOPs of one of its epochs (the workload's; NaN where it gives none).
    `machine`, `node`: where it was decided, for a trial without repeats (a skip); else its repeats'.
    `loss`: the name of the workload's loss, which train_loss and test_loss hold."""
    st = summarize(samples)
    finite = [x for x in samples if math.isfinite(x)]
    rates = throughput(st["median_s"] if finite else math.nan, n_train, int(axes["batch_size"]), epoch_flops)
    warm = [r["warmup_s"] for r in repeats]
    train = [r["train_loss"] for r in repeats if _num(r["train_loss"])]
    test = [r["test_loss"] for r in repeats if _num(r["test_loss"])]
    gpu = [r["gpu_peak_bytes"] for r in repeats if r["gpu_peak_bytes"] is not None]
    intra, inter = threads_in_force if threads_in_force else (None, None)
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "config_id": axes_config_id(axes),
        "workload": axes["workload"], "device": axes["device"],
        "device_actual": repeats[0]["device_actual"] if repeats else "",
        "machine": repeats[-1]["machine"] if repeats else machine, "node": repeats[-1]["node"] if repeats else node,
        **{k: axes[k] for k in AXIS_NAMES if k not in ("device", "workload")},
        "threads_intra": intra, "threads_inter": inter, "status": status, "reason": reason,
        "stop_reason": stop_reason, "repeats": len(repeats), **st,
        "warmup_median_s": statistics.median(warm) if warm else math.nan, "warmup_max_s": max(warm, default=math.nan),
        **rates,
        "loss": loss, **_spread("train_loss", train), **_spread("test_loss", test),
        **{f"test_{m}_median": _median([r[f"test_{m}"] for r in repeats]) for m in METRIC_NAMES},
        "peak_rss_bytes": max((r["peak_rss_bytes"] for r in repeats), default=None),
        "gpu_peak_bytes": max(gpu) if gpu else None,
        "elapsed_s": elapsed_s, "finished_utc": finished_utc,
    }


def _median(values: Sequence[Any]) -> float | None:
    """Median of the numbers among values (None where there is none: a metric not asked for)."""
    found = [v for v in values if _num(v)]
    return statistics.median(found) if found else None


def _num(x: Any) -> bool:
    return x is not None and isinstance(x, int | float) and not math.isnan(x)


def _spread(name: str, values: Sequence[float]) -> dict[str, float]:
    """median, min and max over repeats (NaN when none)."""
    if not values:
        return {f"{name}_median": math.nan, f"{name}_min": math.nan, f"{name}_max": math.nan}
    return {f"{name}_median": statistics.median(values), f"{name}_min": min(values), f"{name}_max": max(values)}


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3.5 h': a duration as a person reads it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
