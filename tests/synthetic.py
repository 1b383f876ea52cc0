"""A run directory built to have known answers, written through the runner's own file code.

Step time (s) = overhead + batch x per-sample cost, per device, times a factor per mode and dtype:

    cpu:  overhead 1e-4, per-sample 1e-6 (hidden 8) or 2e-6 (hidden 64)
    gpu:  overhead 5e-4, per-sample 1e-8
    mode factor: eager 1, graph 1/4, numpy 1/10;   dtype factor: float32 1, float64-cast 1.25

so the GPU beats the CPU above batch (5e-4 - 1e-4) / (1e-6 - 1e-8) = 404.04... at hidden 8 and
4e-4 / (2e-6 - 1e-8) = 201.005... at hidden 64 (in every mode: the factors scale both terms);
graph is 4x eager, and the cast costs 25%. The three timed epochs of repeats 0, 1, 2 carry noise
factors (0.99, 1.00, 1.01), (0.985, 0.995, 1.02), (0.98, 1.005, 1.015): the repeat medians differ
(1, 0.995, 1.005) while the median of all nine is exactly 1. The warm-up epoch is 10x slower and
must be left out.
"""

from __future__ import annotations

from pathlib import Path

from bench import results
from bench.spec import build_spec, trials
from bench.sweep import Sweep, TrialState

N_TRAIN = 4096
BATCHES = (16, 64, 256, 1024)
OVERHEAD = {"cpu": 1e-4, "gpu": 5e-4}
PER_SAMPLE = {("cpu", 8): 1e-6, ("cpu", 64): 2e-6, ("gpu", 8): 1e-8, ("gpu", 64): 1e-8}
MODE_FACTOR = {"eager": 1.0, "graph": 0.25, "numpy": 0.1}
DTYPE_FACTOR = {"float32": 1.0, "float64-cast": 1.25}
NOISE = ((0.99, 1.0, 1.01), (0.985, 0.995, 1.02), (0.98, 1.005, 1.015))
PEAK_GFLOPS = {"cpu": 100.0, "gpu": 10_000.0}


def step_time(device: str, mode: str, dtype: str, batch: int, hidden: int) -> float:
    """The model the synthetic run is built from."""
    return (OVERHEAD[device] + batch * PER_SAMPLE[(device, hidden)]) * MODE_FACTOR[mode] * DTYPE_FACTOR[dtype]


def make_run(run_dir: Path, *, devices: str = "cpu,gpu", repeats: int = 3, slowdown=None, commit: str = "",
             cpu_model: str = "Synthetic CPU @ 1.00GHz") -> Path:
    """Write meta.json, raw.csv and summary.csv of the synthetic run into run_dir.

    `slowdown(trial_dict) -> factor` multiplies a trial's epoch times (a planted regression).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = build_spec({"devices": devices, "modes": "eager,graph,numpy", "dtypes": "float32,float64-cast",
                       "batch_sizes": ",".join(map(str, BATCHES)), "hidden_sizes": "8,64", "n_train": N_TRAIN,
                       "n_test": 1024, "epochs": 4, "min_repeats": repeats})
    meta = {"schema_version": results.SCHEMA_VERSION, "run_id": run_dir.name, "spec": spec.to_dict(),
            "host": {"cpu_model": cpu_model, "cpu_logical_cores": 2}, "git": {"commit": commit, "dirty": False},
            "tensorflow": {"tensorflow": "2.99.0", "nvidia_smi": [{"name": "Synthetic GPU"}] if "gpu" in devices
                           else []},
            "peak": [{"status": "ok", "device": d, "dtype": "float32", "threads": 0, "n": 2048,
                      "gflops_best": PEAK_GFLOPS[d], "gflops_median": PEAK_GFLOPS[d] * 0.9}
                     for d in devices.split(",")]}
    results.write_json(run_dir / results.META, meta)
    sweep = Sweep(spec, run_dir, argv=["synthetic"])
    raw = results.CsvAppender(run_dir / results.RAW, results.RAW_FIELDS)
    rows = []
    for trial in trials(spec):
        t = trial.to_dict()
        epoch = step_time(t["device"], t["mode"], t["dtype"], t["batch_size"], t["hidden"]) * N_TRAIN / t["batch_size"]
        epoch *= slowdown(t) if slowdown else 1.0
        state = TrialState(trial=trial, status="ok", stop_reason="max_repeats")
        for r in range(repeats):
            times = [10 * epoch] + [epoch * f for f in NOISE[r]]
            res = {"device_actual": f"{t['device']}:0", "epoch_times_s": times,
                   "train_mse": [1.0 / (e + 1) + 0.01 * r for e in range(4)], "test_mse": 1.5 + 0.01 * r,
                   "peak_rss_bytes": 1 << 28, "gpu_peak_bytes": 1 << 20 if t["device"] == "gpu" else None,
                   "wall_s": 13 * epoch}
            raw.write(results.repeat_rows(run_dir.name, {**t, "config_id": trial.config_id}, r, r, res, "now"))
            state.repeats.append(res)
            state.elapsed_s += res["wall_s"]
        rows.append(sweep._summary_row(state))
    raw.close()
    results.rewrite_csv(run_dir / results.SUMMARY, results.SUMMARY_FIELDS, rows)
    return run_dir
