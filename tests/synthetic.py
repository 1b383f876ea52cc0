"""A run directory built to have known answers, written through the runner's own file code.

Step time (s) = overhead + batch x per-sample cost, per device, times a factor per mode and dtype:

    cpu:  overhead 1e-4, per-sample 1e-6 (hidden 8) or 2e-6 (hidden 64)
    gpu:  overhead 5e-4, per-sample 1e-8
    mode factor: eager 1, graph 1/4, numpy 1/10 (function 1/2, numba 1/40, on request);   dtype factor: float32 1,
    float64-cast 1.25

so the GPU beats the CPU above batch (5e-4 - 1e-4) / (1e-6 - 1e-8) = 404.04... at hidden 8 and
4e-4 / (2e-6 - 1e-8) = 201.005... at hidden 64 (in every mode: the factors scale both terms);
graph is 4x eager, and the cast costs 25%. The three timed epochs of repeats 0, 1, 2 carry noise
factors (0.99, 1.00, 1.01), (0.985, 0.995, 1.02), (0.98, 1.005, 1.015): the repeat medians differ
(1, 0.995, 1.005) while the median of all nine is exactly 1. The warm-up epoch is 10x slower and
must be left out.
"""

from __future__ import annotations

from pathlib import Path

from bench.format.derive import raw_rows, repeat_row, summary_row
from bench.format.io import Rows, Tables
from bench.format.messages import RepeatResult
from bench.format.spec import build_spec, trials
from bench.format.writer import write_run
from mlp_core.flops import epoch_flops

N_TRAIN = 4096
BATCHES = (16, 64, 256, 1024)
OVERHEAD = {"cpu": 1e-4, "gpu": 5e-4}
PER_SAMPLE = {("cpu", 8): 1e-6, ("cpu", 64): 2e-6, ("gpu", 8): 1e-8, ("gpu", 64): 1e-8}
MODE_FACTOR = {"eager": 1.0, "function": 0.5, "graph": 0.25, "numpy": 0.1, "numba": 0.025}
DTYPE_FACTOR = {"float32": 1.0, "float64-cast": 1.25}
NOISE = ((0.99, 1.0, 1.01), (0.985, 0.995, 1.02), (0.98, 1.005, 1.015))
PEAK_GFLOPS = {"cpu": 100.0, "gpu": 10_000.0}
WHEN = "2026-11-25T12:00:00+00:00"
EFFICIENCY = {1: 1.0, 2: 0.8, 4: 0.5}  # planted scaling efficiency of N replicas (strong scaling)
SYNTHETIC_MACHINE = "5ca1ab1e"  # the machine id of a synthetic run's rows


def step_time(device: str, mode: str, dtype: str, batch: int, hidden: int) -> float:
    """The model the synthetic run is built from."""
    return (OVERHEAD[device] + batch * PER_SAMPLE[(device, hidden)]) * MODE_FACTOR[mode] * DTYPE_FACTOR[dtype]


def make_run(run_dir: Path, *, devices: str = "cpu,gpu", repeats: int = 3, slowdown=None, commit: str = "",
             cpu_model: str = "Synthetic CPU @ 1.00GHz", one_worker: bool = False,
             modes: str = "eager,graph,numpy", machine_of=None, replicas: str = "1", cast: float | None = None,
             noise=NOISE, dtypes: str = "float32,float64-cast", pairing: str = "dtype") -> Path:
    """Write meta.json, raw.csv, repeats.csv and summary.csv of the synthetic run into run_dir, with the
    store's own row builders and writer.

    `slowdown(trial_dict) -> factor` multiplies a trial's epoch times (a planted regression).
    Round r runs in worker process 1000 + r (fresh workers every round), or all in 4242 (`one_worker`).
    `machine_of(trial_dict) -> machine id` spreads trials over machines (default: all on SYNTHETIC_MACHINE).
    `replicas` ("1,2,4"): the replicas axis; N replicas take time(one device, same global batch) /
    (N x EFFICIENCY[N]): a planted scaling efficiency. `cast`: the float64-cast factor instead of 1.25;
    `noise`: per repeat, the factors of its three timed epochs, instead of NOISE (or a function of the trial's
    dict and the repeat giving them); `pairing`: the sweep's (with "dtype", every dtype partner shares each
    repeat's noise, as back-to-back repeats share a drift, so the paired ratio is exact).
    """
    machine_of = machine_of or (lambda t: SYNTHETIC_MACHINE)
    run_dir = Path(run_dir)
    spec = build_spec({"devices": devices, "modes": modes, "dtypes": dtypes,
                       "batch_sizes": ",".join(map(str, BATCHES)), "sizes": "8,64", "n_train": N_TRAIN,
                       "n_test": 1024, "epochs": 4, "min_repeats": repeats, "replicas": replicas,
                       "pairing": pairing})
    meta = {"run_id": run_dir.name, "command": ["synthetic"], "spec": spec.to_dict(), "order_seed": 0,
            "started_at": WHEN, "finished_at": WHEN, "git": {"commit": commit, "dirty": False},
            "host": {"cpu_model": cpu_model, "cpu_logical_cores": 2},
            "tensorflow": {"tensorflow": "2.99.0", "nvidia_smi": [{"name": "Synthetic GPU"}] if "gpu" in devices
                           else []},
            "peak": [{"status": "ok", "device": d, "dtype": "float32", "threads": 0, "n": 2048,
                      "gflops_best": PEAK_GFLOPS[d], "gflops_median": PEAK_GFLOPS[d] * 0.9}
                     for d in devices.split(",")],
            "machines": {}}
    raw, reps, summary = [], [], []
    for trial in trials(spec):
        t = trial.to_dict()
        epoch = step_time(t["device"], t["mode"], t["dtype"], t["batch_size"], t["size"]) * N_TRAIN / t["batch_size"]
        if cast is not None and t["dtype"] == "float64-cast":
            epoch *= cast / DTYPE_FACTOR["float64-cast"]
        epoch *= slowdown(t) if slowdown else 1.0
        epoch /= t["replicas"] * EFFICIENCY[t["replicas"]]
        mine, times_all = [], []
        machine = machine_of(t)
        meta["machines"].setdefault(machine, {"cpu_model": cpu_model, "cpu_cores": 2,
                                              "gpus": ["Synthetic GPU"] if t["device"] == "gpu" else []})
        for r in range(repeats):
            times = [10 * epoch] + [epoch * f for f in (noise(t, r) if callable(noise) else noise[r])]
            mse = [1.0 / (e + 1) + 0.01 * r for e in range(4)]
            raw += raw_rows(trial.config_id, r, times, mse, machine=machine)
            res = RepeatResult(status="ok", reason="", device_actual=f"{t['device']}:0", epoch_times_s=times,
                               train_loss=mse, test_loss=1.5 + 0.01 * r, peak_rss_bytes=1 << 28,
                               gpu_peak_bytes=1 << 20 if t["device"] == "gpu" else None, wall_s=13 * epoch,
                               worker_pid=4242 if one_worker else 1000 + r, started_utc=WHEN)
            mine.append(repeat_row(res, run_id=run_dir.name, axes=t, repeat=r, seed=r, finished_utc=WHEN,
                                   machine=machine, node=f"node-{machine}"))
            times_all += times[1:]
        reps += mine
        summary.append(summary_row(run_id=run_dir.name, axes=t, status="ok", reason="", stop_reason="max_repeats",
                                   repeats=mine, samples=times_all, n_train=N_TRAIN, threads_in_force=(2, 2),
                                   elapsed_s=13 * epoch * repeats, finished_utc=WHEN,
                                   epoch_flops=epoch_flops(N_TRAIN, t["batch_size"], 3, t["size"])))
    write_run(run_dir, meta, Tables(*(Rows(rows, []) for rows in (raw, reps, summary))))
    return run_dir
