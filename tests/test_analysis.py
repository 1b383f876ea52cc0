"""bench.analysis against a run built to have known answers (tests/synthetic.py) and hand-worked cases."""

import dataclasses
import json
import math
import subprocess
import sys

import pytest

from bench.analysis.comparisons import cast_overhead, speedups
from bench.analysis.findings import (
    analyse,
    crossover,
    fit_line,
    fraction_of_peak,
    scaling,
    step_cost_fits,
    write_analysis,
)
from bench.format import StoreError, load_run
from bench.format.identity import machine_label
from tests.synthetic import BATCHES, EFFICIENCY, N_TRAIN, make_run, step_time


@pytest.fixture(scope="module")
def gpu_run(tmp_path_factory):
    return load_run(make_run(tmp_path_factory.mktemp("synthetic") / "gpu-run"))


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    return load_run(make_run(tmp_path_factory.mktemp("synthetic") / "cpu-run", devices="cpu"))


def _fit(run, **key):
    (fit,) = [f for f in step_cost_fits(run) if all(f[k] == v for k, v in key.items())]
    return fit


@pytest.mark.parametrize(("device", "mode", "dtype", "size", "overhead", "per_sample"), [
    ("cpu", "eager", "float32", 8, 1e-4, 1e-6),
    ("cpu", "eager", "float32", 64, 1e-4, 2e-6),
    ("cpu", "eager", "float64-cast", 8, 1.25e-4, 1.25e-6),  # the cast's 25% scales both terms
    ("cpu", "graph", "float32", 8, 2.5e-5, 2.5e-7),  # graph: a quarter of eager
    ("gpu", "eager", "float32", 64, 5e-4, 1e-8),
])
def test_fit_recovers_the_overhead_and_per_sample_cost(gpu_run, device, mode, dtype, size, overhead, per_sample):
    fit = _fit(gpu_run, device=device, mode=mode, dtype=dtype, size=size, threads=0)
    # the warm-up epochs (10x slower) are not in the samples, or these would be far off
    assert fit["overhead_s"] == pytest.approx(overhead, rel=1e-6)
    assert fit["per_sample_s"] == pytest.approx(per_sample, rel=1e-6)
    assert fit["batches"] == list(BATCHES)
    assert fit["rms_rel_residual"] < 1e-9 and fit["overhead_stderr_s"] < 1e-9 * overhead + 1e-15


def test_fit_of_two_points_is_exact_and_has_no_error_estimate():
    fit = fit_line([2, 6], [3.0, 5.0])  # 3 = a + 2c, 5 = a + 6c  ->  c = 0.5, a = 2
    assert fit["overhead_s"] == pytest.approx(2.0) and fit["per_sample_s"] == pytest.approx(0.5)
    assert fit["overhead_stderr_s"] is None and fit["per_sample_stderr_s"] is None
    with pytest.raises(ValueError, match="two distinct batch sizes"):
        fit_line([4, 4], [1.0, 1.1])


def test_crossover_where_the_gpu_starts_to_win(gpu_run):
    by_hidden = {c["size"]: c for c in analyse(gpu_run)["crossover"] if (c["mode"], c["dtype"]) ==
                 ("eager", "float32")}
    # (5e-4 - 1e-4) / (1e-6 - 1e-8) and (5e-4 - 1e-4) / (2e-6 - 1e-8)
    assert by_hidden[8]["batch"] == pytest.approx(404.0404, rel=1e-5)
    assert by_hidden[64]["batch"] == pytest.approx(201.005, rel=1e-5)
    assert by_hidden[8]["kind"] == "gpu_wins_above" and by_hidden[8]["text"] == "GPU faster above batch 404"
    # measured: at hidden 8 the CPU/GPU ratio is 0.23, 0.33, 0.71, 2.2 over batch 16..1024;
    # at hidden 64 it is 0.26, 0.45, 1.22, 4.2
    assert by_hidden[8]["measured_win_from"] == 1024
    assert by_hidden[64]["measured_win_from"] == 256


@pytest.mark.parametrize(("cpu", "gpu", "kind", "batch"), [
    ((1.0, 1.0), (2.0, 0.5), "gpu_wins_above", 2.0),  # 1 + B = 2 + B/2 at B = 2
    ((1.0, 1.0), (0.5, 0.5), "gpu_always", None),  # the lines cross at B = -1: outside the range
    ((1.0, 1.0), (10.0, 0.9), "cpu_always", None),  # they cross at B = 90 > 16
    ((2.0, 0.5), (1.0, 1.0), "gpu_wins_below", 2.0),  # a GPU with the lower overhead but a higher slope
    ((1.0, 1.0), (2.0, 1.0), "cpu_always", None),  # parallel lines never cross
])
def test_crossover_hand_cases(cpu, gpu, kind, batch):
    fit = lambda a, c: {"overhead_s": a, "per_sample_s": c, "batches": [1, 4, 16]}  # noqa: E731
    res = crossover(fit(*cpu), fit(*gpu))
    assert res["kind"] == kind and res["range"] == [1, 16]
    assert res["batch"] == (pytest.approx(batch) if batch else None)
    if batch is None:
        assert res["text"].startswith("no crossover in range")


def test_speedups_carry_intervals_over_repeats_and_verdicts(gpu_run):
    graph = [s for s in speedups(gpu_run, "mode", "eager") if s["candidate"] == "graph"]
    assert len(graph) == 2 * 2 * len(BATCHES) * 2  # device x dtype x batch x hidden
    for s in graph:
        assert s["speedup"] == pytest.approx(4.0)
        assert s["ci_low"] < 4.0 < s["ci_high"] and s["ci_high"] - s["ci_low"] < 0.2 and s["significant"]
    numpy_ = [s for s in speedups(gpu_run, "mode", "eager") if s["candidate"] == "numpy"]
    assert {s["device"] for s in numpy_} == {"cpu"} and all(s["speedup"] == pytest.approx(10.0) for s in numpy_)


def test_gpu_vs_cpu_speedup_values(gpu_run):
    (s,) = [s for s in speedups(gpu_run, "device", "cpu") if (s["mode"], s["dtype"], s["batch_size"], s["size"])
            == ("eager", "float32", 1024, 8)]
    assert s["speedup"] == pytest.approx((1e-4 + 1024e-6) / (5e-4 + 1024e-8))
    assert s["reference_config_id"] == "cpu-eager-float32-b1024-h8-t0"


def test_cast_overhead_is_25_percent_everywhere(gpu_run):
    rows = cast_overhead(gpu_run)
    assert len(rows) == 3 * len(BATCHES) * 2 + 2 * len(BATCHES) * 2  # CPU: 3 modes; GPU: eager, graph
    for r in rows:
        assert r["overhead"] == pytest.approx(0.25)
        assert r["ci_low"] - 1e-12 <= 0.25 <= r["ci_high"] + 1e-12 and r["significant"] and r["verdict"] == "costs"


def test_fraction_of_the_measured_peak(gpu_run):
    (row,) = [r for r in fraction_of_peak(gpu_run) if r["config_id"] == "cpu-eager-float32-b1024-h8-t0"]
    # one step at batch 1024, 3 inputs, 8 hidden (bench/flops.py's convention, by hand):
    # forward 49152 + 8192 + 8192 + 16384 + 1024, loss 3072,
    # backward 2048 + 16384 + 1024 + 16384 + 8192 + 49152 + 8192, update 2 * (24 + 8 + 8 + 1)
    step_flops = 82944 + 3072 + 101376 + 82
    assert row["flops_per_step"] == step_flops
    epoch_s = 4 * (1e-4 + 1024 * 1e-6)  # 4 steps
    assert row["gflops"] == pytest.approx(4 * step_flops / epoch_s / 1e9)
    assert row["peak_gflops"] == 100.0
    assert row["fraction"] == pytest.approx(4 * step_flops / epoch_s / 1e9 / 100.0)


def test_fraction_is_none_without_a_ceiling_for_that_device_and_dtype(gpu_run):
    """A trial gets a fraction only from a ceiling of its own device and compute dtype: a float64 ceiling
    does not serve float32 arithmetic, a CPU ceiling does not serve a GPU trial."""
    peaks = gpu_run.meta["peak"]
    cpu32 = [p for p in peaks if p["device"] == "cpu" and p["dtype"] == "float32"]
    as64 = [{**p, "dtype": "float64"} for p in peaks]  # the same ceilings, measured for float64 only
    only64 = fraction_of_peak(dataclasses.replace(gpu_run, meta={**gpu_run.meta, "peak": as64}))
    assert only64 and all(r["peak_gflops"] is None and r["fraction"] is None for r in only64)  # float32 compute
    cpu_only = fraction_of_peak(dataclasses.replace(gpu_run, meta={**gpu_run.meta, "peak": cpu32}))
    by_device = {d: [r for r in cpu_only if r["device"] == d] for d in ("cpu", "gpu")}
    assert by_device["cpu"] and all(r["peak_gflops"] == 100.0 and r["fraction"] > 0 for r in by_device["cpu"])
    assert by_device["gpu"] and all(r["peak_gflops"] is None and r["fraction"] is None for r in by_device["gpu"])
    meta_less = dataclasses.replace(gpu_run, meta={**gpu_run.meta, "peak": []})
    assert all(r["peak_gflops"] is None and r["fraction"] is None for r in fraction_of_peak(meta_less))


def test_headline_and_json_file(gpu_run):
    path, _ = write_analysis(gpu_run)
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in analysis.json"))
    head = data["headline"]
    assert head["eager_overhead_per_step_s"]["cpu-float32-h8-t0"] == pytest.approx(1e-4, rel=1e-6)
    assert head["cast_overhead_median"] == pytest.approx(0.25)
    assert head["cast_overhead_decided"] == head["cast_overhead_compared"] == len(data["cast_overhead"])
    assert head["cast_overhead_significant"] == len(data["cast_overhead"])  # the older key keeps its meaning
    assert data["mode_vs_eager"] == data["modes"]["vs_reference"] and data["modes"]["reference"] == "eager"
    # no batch-4 configuration: the point with the most modes, smallest batch and hidden first
    assert head["modes_at"] == {"batch_size": 16, "size": 8, "size_name": "hidden", "dtype": "float32"}
    assert head["modes_over_baseline"] == pytest.approx({"eager": 10.0, "graph": 2.5, "numpy": 1.0})
    assert "modes_over_floor" not in head  # no numba trial in this run
    assert data["machine"] == "Synthetic x2, Synthetic GPU, TF 2.99.0"


def test_cpu_only_run_has_no_gpu_numbers_but_everything_else(cpu_run):
    data = analyse(cpu_run)
    assert data["gpu_vs_cpu"] == [] and data["crossover"] == []
    assert data["modes"]["vs_reference"] and data["cast_overhead"] and data["step_cost_fits"]


def test_fingerprint_label_from_real_fields():
    meta = {"host": {"cpu_model": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "cpu_affinity": 8},
            "tensorflow": {"tensorflow": "2.21.0", "nvidia_smi": [{"name": "NVIDIA H100 80GB HBM3"}]}}
    assert machine_label(meta) == "Intel Xeon Platinum 8375C x8, NVIDIA H100 80GB HBM3, TF 2.21.0"


def test_not_a_run_directory(tmp_path):
    with pytest.raises(StoreError, match="not a run directory"):
        load_run(tmp_path)
    for module in ("bench.analysis", "bench.plot"):
        proc = subprocess.run([sys.executable, "-m", module, str(tmp_path)], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert str(tmp_path) in proc.stderr and "not a run directory" in proc.stderr and "Traceback" not in proc.stderr
        proc = subprocess.run([sys.executable, "-m", module, str(tmp_path / "nope")], capture_output=True, text=True)
        assert proc.returncode == 2 and "no such directory" in proc.stderr and "Traceback" not in proc.stderr


def test_nan_free_when_a_trial_has_too_few_samples(tmp_path):
    run = load_run(make_run(tmp_path / "one-repeat", devices="cpu", repeats=1))  # 3 samples: no median CI
    data = analyse(run)
    assert all(math.isfinite(s["speedup"]) for s in data["modes"]["vs_reference"])


def test_scaling_efficiency_recovers_the_planted_one(tmp_path):
    """Replicas 2 and 4 planted at efficiency 0.8 and 0.5 (strong: same global batch); weak pairs the
    N-replica trial at batch B with the one-device trial at B / N, whose efficiency follows from the model."""
    run = load_run(make_run(tmp_path / "run", devices="cpu", modes="eager,graph,numpy", replicas="1,2,4"))
    rows = scaling(run)
    assert {r["mode"] for r in rows} == {"eager"}  # the only mode of these that tf.distribute runs
    strong = [r for r in rows if r["kind"] == "strong"]
    assert len(strong) == 2 * len(BATCHES) * 2 * 2  # replicas 2, 4 x batches x dtypes x hidden sizes
    for r in strong:
        assert r["efficiency"] == pytest.approx(EFFICIENCY[r["replicas"]], rel=1e-9)
        assert r["speedup"] == pytest.approx(r["replicas"] * EFFICIENCY[r["replicas"]], rel=1e-9)
        assert r["ci_low"] <= r["efficiency"] <= r["ci_high"]
    weak = [r for r in rows if r["kind"] == "weak"]
    assert weak and all(r["one_device_batch"] * r["replicas"] == r["global_batch"] for r in weak)
    for r in weak:
        def epoch(b, r=r):
            return step_time("cpu", "eager", r["dtype"], b, r["size"]) * N_TRAIN / b

        expected = EFFICIENCY[r["replicas"]] * epoch(r["one_device_batch"]) / epoch(r["global_batch"])
        assert r["efficiency"] == pytest.approx(expected, rel=1e-9)
    # and the per-device analyses leave the replicas trials out: the same fits as a run without them
    single = load_run(make_run(tmp_path / "single", devices="cpu", modes="eager,graph,numpy"))
    assert step_cost_fits(run) == step_cost_fits(single)
    assert len(run.one_device) == len(single.ok) < len(run.ok)
