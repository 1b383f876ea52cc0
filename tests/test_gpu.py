"""The GPU suite: what a GPU run must prove, ready for the day a GPU is visible.

Every test here is marked `gpu`: it runs with `EMB_TEST_GPU=1 make test` (or `EMB_TEST_GPU=1 pytest -m gpu`) on a
machine where TensorFlow sees a GPU (`pip install '.[gpu]'`), and skips with the reason elsewhere (tests/gpu.py,
tests/conftest.py). What they prove: every TensorFlow mode (and each JAX mode, with the jax-gpu extra) trains on
gpu:0 to the NumPy float64 reference's numbers, the ops really ran there (`device_actual == "gpu:0"`), the
GPU peak-memory counter reads a positive peak, the worker turns memory growth on, the GPU matmul ceiling is
measured on gpu:0, and a small sweep's GPU/CPU speed-ups and figure come from real GPU rows.
"""

import csv
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bench.engine.measure import run_peak, run_repeat
from bench.engine.session import repeat_task
from bench.format.messages import PeakTask
from bench.format.spec import build_spec
from mlp_core import Device, DTypeMode, ExecMode, TrainConfig, init_params, modes, train
from mlp_core.reference import train_numpy

pytestmark = pytest.mark.gpu


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))

TF_MODES = [ExecMode(m) for m in modes.names() if ExecMode(m).needs_tensorflow]
JAX_MODES = [ExecMode(m) for m in modes.names() if modes.get(m).library == "JAX"]
TOL = {DTypeMode.FLOAT32: 1e-4, DTypeMode.FLOAT64_CAST: 1e-4, DTypeMode.FLOAT64: 1e-10}


@pytest.fixture(scope="module")
def reference(small_data):
    params = init_params(3, 20, seed=1)
    ref = train_numpy(small_data, TrainConfig(epochs=2, batch_size=8, shuffle=False, dtype=DTypeMode.FLOAT64,
                                              mode=ExecMode.NUMPY), params)
    return params, ref


@pytest.mark.parametrize("dtype", [DTypeMode.FLOAT32, DTypeMode.FLOAT64_CAST])
@pytest.mark.parametrize("mode", TF_MODES)
def test_every_tf_mode_trains_on_gpu_to_the_reference(small_data, reference, mode, dtype):
    params, ref = reference
    res = train(small_data, TrainConfig(epochs=2, batch_size=8, shuffle=False, dtype=dtype, mode=mode,
                                        device=Device.GPU), params)
    assert res.device == "gpu:0"  # read from the result tensors: the ops ran there
    np.testing.assert_allclose(res.train_mse, ref.train_mse, rtol=TOL[dtype])
    assert res.test_mse == pytest.approx(ref.test_mse, rel=TOL[dtype])


@pytest.mark.parametrize("mode", JAX_MODES)
def test_jax_modes_train_on_gpu_to_the_reference(small_data, reference, mode):
    jax = pytest.importorskip("jax")
    if not any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("JAX sees no GPU: pip install '.[jax-gpu]'")
    params, ref = reference
    res = train(small_data, TrainConfig(epochs=2, batch_size=8, shuffle=False, mode=mode, device=Device.GPU), params)
    assert res.device == "gpu:0"
    np.testing.assert_allclose(res.train_mse, ref.train_mse, rtol=1e-4)


def test_a_gpu_repeat_reads_a_positive_gpu_peak():
    spec = build_spec({"devices": "gpu", "modes": "eager", "dtypes": "float32", "batch_sizes": "64",
                       "sizes": "256", "epochs": 2, "n_train": 1024, "n_test": 64})
    from bench.format.spec import trials

    (trial,) = trials(spec)
    res = run_repeat(repeat_task(trial, 0, spec))
    assert res.status == "ok", res.reason
    assert res.device_actual == "gpu:0" and res.gpu_peak_bytes and res.gpu_peak_bytes > 0


def test_the_worker_turns_gpu_memory_growth_on():
    code = textwrap.dedent("""
        import json
        from bench.engine.worker import _start_tensorflow
        import tensorflow as tf
        hello = _start_tensorflow(0)
        print(json.dumps({"devices": hello.devices,
                          "growth": [tf.config.experimental.get_memory_growth(g)
                                     for g in tf.config.list_physical_devices("GPU")]}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert "gpu:0" in said["devices"] and said["growth"] and all(said["growth"])


def test_the_gpu_ceiling_is_measured_on_the_gpu():
    res = run_peak(PeakTask(device="gpu", dtype="float32", n=2048))
    assert res.status == "ok", res.reason
    assert res.device_actual == "gpu:0" and res.gflops_best >= res.gflops_median > 0


def test_a_small_sweep_draws_its_gpu_answer_from_real_gpu_rows(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "bench.run", "--out", str(out), "--devices", "cpu,gpu", "--modes",
                           "eager,graph", "--dtypes", "float32", "--batch-sizes", "16,4096", "--hidden-sizes", "256",
                           "--epochs", "3", "--repeats", "3", "--n-train", "16384", "--n-test", "64", "--quiet"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    reps = read_csv(out / "repeats.csv")
    gpu_reps = [r for r in reps if r["config_id"].startswith("gpu-")]
    assert gpu_reps and {r["device_actual"] for r in gpu_reps} == {"gpu:0"}
    assert all(int(r["gpu_peak_bytes"]) > 0 for r in gpu_reps)
    summary = {r["config_id"]: r for r in read_csv(out / "summary.csv")}
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["gpu_vs_cpu"] and analysis["crossover"]
    for row in analysis["gpu_vs_cpu"]:  # each speed-up is the ratio of the two trials' measured medians
        cpu, gpu = summary[row["reference_config_id"]], summary[row["candidate_config_id"]]
        assert row["speedup"] == pytest.approx(float(cpu["median_s"]) / float(gpu["median_s"]), rel=1e-9)
    assert (out / "plots" / "speedup_gpu_cpu.svg").exists()
    peaks = json.loads((out / "meta.json").read_text())["peak"]
    assert any(p["device"] == "gpu" and p["status"] == "ok" and p["device_actual"] == "gpu:0" for p in peaks)
