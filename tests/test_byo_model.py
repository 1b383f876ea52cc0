"""Bring your own model, end to end: the contract check on the built-ins and the example (and what it catches), a
user's workload through bench.run, the report and bench.compare, and the pytest-benchmark suite on it through
pytest-benchmark's own CLI. (The interface, loading, the store and the protocol: tests/test_workloads.py.)"""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest

from bench.format import load_run
from tests.test_workloads import EXAMPLE, ROOT, _cli


@pytest.mark.slow
def test_the_contract_check_passes_the_built_ins_and_the_example(monkeypatch, tmp_path, capsys):
    from bench.engine.contract import Settings, check

    monkeypatch.syspath_prepend(str(ROOT))  # `examples` importable, as from the repository root
    for spec in ("cnn", EXAMPLE):  # the generic trainer's workloads here; the MLP's through the command below
        # float32 and float64 compute (float64-cast computes in float32: the MLP's check below covers it)
        _, checks = check(spec, Settings(n_train=64, epochs=2, dtypes=("float32", "float64")))
        outcomes = {c.name: c.outcome for c in checks}
        assert outcomes["data"] == outcomes["initial weights"] == outcomes["learning"] == "pass", (spec, checks)
        agree = [c for c in checks if " = eager " in c.name]
        assert len(agree) == 3 * 2 and all(c.outcome == "pass" for c in agree), (spec, agree)  # 3 modes x 2 dtypes
        assert all(c.values["loss_dev"] <= c.values["tolerance"] for c in agree)
        assert outcomes["placement on cpu"] == "pass"
        assert outcomes["placement on gpu"] == "skip"  # never a pass without a GPU
    # the command (in this process: TensorFlow is loaded already): one line a check, exit 0, the JSON
    from bench.cli.workload import main

    assert main(["check", "mlp", "--n-train", "64", "--epochs", "2", "--dtypes", "float32,float64-cast,float64",
                 "--json", str(tmp_path / "check.json")]) == 0
    out = capsys.readouterr().out
    assert "SKIP  placement on gpu" in out and "sees no GPU" in out and "14 passed, 0 failed, 1 skipped" in out
    doc = json.loads((tmp_path / "check.json").read_text())
    assert doc["workload"]["name"] == "mlp" and len(doc["checks"]) == 15
    assert [c["outcome"] for c in doc["checks"] if " = eager " in c["name"]] == ["pass"] * 9


BROKEN = textwrap.dedent("""
    import dataclasses
    import numpy as np
    from mlp_core.workloads import CNN, Workload
    from examples.keras_regression import workload as example

    def unseeded_data(seed, n_train, n_test):
        d = CNN.data(seed, n_train, n_test)
        return dataclasses.replace(d, X_train=d.X_train + np.random.default_rng().normal(size=d.X_train.shape))

    def noisy_model(width):
        import keras
        import tensorflow as tf

        class Noise(keras.layers.Layer):  # unseeded noise while training: no two runs see the same draws
            def call(self, x, training=False):
                return x + tf.random.normal(tf.shape(x), dtype=x.dtype) if training else x

        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(width, activation="relu"), Noise(),
                                 keras.layers.Dense(1)])

    def unseeded():
        return dataclasses.replace(CNN, name="unseeded", data=unseeded_data, dtypes=("float32",))

    def noisy():
        return dataclasses.replace(example(), name="noisy", model=noisy_model, dtypes=("float64",),
                                   modes=("eager", "function"))
""")


@pytest.mark.slow
def test_the_contract_check_catches_unseeded_data_and_modes_that_disagree(tmp_path, monkeypatch):
    from bench.engine.contract import Settings, check

    (tmp_path / "broken_models.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.syspath_prepend(str(tmp_path))
    _, checks = check("broken_models:unseeded", Settings(n_train=64, epochs=2))
    (data,) = [c for c in checks if c.name == "data"]
    assert data.outcome == "fail" and "two draws with the same seed differ" in data.detail
    _, checks = check("broken_models:noisy", Settings(n_train=64, epochs=2))
    # the noise is drawn afresh in every run: the tf.function step's trajectory is not eager's
    (mode,) = [c for c in checks if c.name == "function = eager (float64)"]
    assert mode.outcome == "fail" and mode.values["loss_dev"] > mode.values["tolerance"], mode


# ---- a user's workload through the runner, the store, the report and compare ------------------------------------
@pytest.mark.slow
def test_a_users_workload_through_run_report_and_compare(tmp_path):
    out = tmp_path / "a"
    res = _cli("-m", "bench.run", "--workload", EXAMPLE, "--devices", "cpu,gpu", "--modes", "eager,function",
               "--dtypes", "float32", "--batch-sizes", "32", "--sizes", "16", "--n-train", "128", "--n-test",
               "32", "--epochs", "3", "--repeats", "2", "--peak-n", "0", "--quiet", "--out", str(out))
    assert res.returncode == 0, res.stderr
    runs = [out, tmp_path / "b"]
    shutil.copytree(out, runs[1])  # the same measurements as a second run: compare reads both
    run = load_run(runs[0])
    s = run.summary.set_index("config_id")
    assert set(s["workload"]) == {"keras_regression"} and set(s["size"]) == {16}
    ok = s[s["status"] == "ok"]
    assert set(ok.index) == {"keras_regression-cpu-eager-float32-b32-s16-t0",
                             "keras_regression-cpu-function-float32-b32-s16-t0"}
    assert ok["gflops"].isna().all()  # the example gives no FLOPs: no GFLOP/s, never a made-up one
    assert (ok["samples_per_s"] > 0).all() and (ok["test_loss_median"] > 0).all()
    gpu = s[s["device"] == "gpu"]
    assert (gpu["status"] == "skipped").all() and gpu["reason"].str.contains("no GPU").all()
    assert run.workload.name == "keras_regression" and run.workload.size_name == "width"
    assert run.meta["spec"]["workload"] == EXAMPLE
    html = (runs[0] / "report.html").read_text()
    assert "Workload keras_regression" in html and "width" in html
    drawn = {f.stem for f in (runs[0] / "plots").glob("*")}
    assert "epoch_time" in drawn and "gflops" not in drawn  # no FLOPs given: the GFLOP/s figure is not drawn
    res = _cli("-m", "bench.compare", str(runs[0]), str(runs[1]))
    assert res.returncode in (0, 1), res.stderr
    assert "keras_regression-cpu-eager-float32-b32-s16-t0" in res.stdout


@pytest.mark.slow
def test_the_benchmark_suite_times_a_users_workload(tmp_path):
    """pytest-benchmark's own CLI over the suite with --workload: the cases are the workload's, named by the
    runner's config ids, with no GFLOP/s for a workload that gives no FLOPs."""
    out = tmp_path / "bench.json"
    res = _cli("-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider", "--benchmark-only",
               f"--benchmark-json={out}", "--workload", EXAMPLE, "-k", "cpu and float32 and b32 and (eager or graph)")
    assert res.returncode == 0, res.stdout[-3000:]
    doc = json.loads(out.read_text())
    ids = {b["extra_info"]["config_id"] for b in doc["benchmarks"]}
    assert ids == {f"keras_regression-cpu-{m}-float32-b32-s16-t0" for m in ("eager", "graph")}
    for b in doc["benchmarks"]:
        info = b["extra_info"]
        assert info["workload"] == "keras_regression" and info["device_actual"] == "cpu:0"
        assert info["gflops"] is None or info["gflops"] != info["gflops"]  # NaN (JSON null or NaN): no FLOPs given
        assert info["samples_per_s"] == pytest.approx(800 / b["stats"]["median"])
    bad = _cli("-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider", "--benchmark-disable", "--workload",
               "nosuch")
    assert bad.returncode == 2 and "--workload: unknown workload 'nosuch'" in bad.stdout + bad.stderr


