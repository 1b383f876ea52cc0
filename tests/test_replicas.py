"""The replicas axis (tf.distribute.MirroredStrategy on logical CPU devices): the same training as one
device to float rounding, checked against the NumPy float64 oracle; hard placement; a skip with the
reason when the devices are not there; the runner's axis, ids and scaling analysis end to end.

Logical devices must be made before TensorFlow's runtime starts, so the training runs in a fresh process.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.format import load_run
from bench.format.spec import SpecError, build_spec, trials

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, sys
import numpy as np
from mlp_core.distributed import configure_logical_cpus
configure_logical_cpus(4)
from mlp_core import TrainConfig, make_data, train
from mlp_core.errors import UnavailableError
from mlp_core.reference import train_numpy
from mlp_core.tf_train import shuffle_orders

data = make_data(seed=3, n_train=100, n_test=20)   # batch 24: four full batches and a ragged one of 4
out = {}
for mode in ("eager", "function"):
    for replicas in (1, 2, 4):
        cfg = TrainConfig(size=16, epochs=3, batch_size=24, dtype="float64", mode=mode, replicas=replicas,
                          learning_rate=0.01, seed=5)
        res = train(data, cfg)
        out[f"{mode}-{replicas}"] = {"mse": list(res.train_mse), "test": res.test_mse, "device": res.device,
                                     "W_xh": res.params.W_xh.tolist(), "b_y": res.params.b_y.tolist()}
cfg = TrainConfig(size=16, epochs=3, batch_size=24, dtype="float64", mode="numpy", learning_rate=0.01, seed=5)
ref = train_numpy(data, cfg, orders=shuffle_orders(100, cfg.shuffle_buffer, 3))
out["numpy"] = {"mse": list(ref.train_mse), "test": ref.test_mse, "W_xh": ref.params.W_xh.tolist(),
                "b_y": ref.params.b_y.tolist()}
try:
    train(data, TrainConfig(size=16, epochs=2, batch_size=24, mode="function", replicas=8))
except UnavailableError as exc:
    out["too_many"] = str(exc)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def trained():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("replicas", [2, 4])
def test_replicas_train_the_one_device_trajectory(trained, mode, replicas):
    """Fixed global batch: N replicas split each batch and take the same step, so the losses and weights are
    the NumPy float64 oracle's (with TF's sample order) to rounding, as the one-device run's are."""
    oracle, one, many = trained["numpy"], trained[f"{mode}-1"], trained[f"{mode}-{replicas}"]
    for run in (one, many):
        np.testing.assert_allclose(run["mse"], oracle["mse"], rtol=1e-10)
        np.testing.assert_allclose(run["test"], oracle["test"], rtol=1e-10)
        np.testing.assert_allclose(run["W_xh"], oracle["W_xh"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(run["b_y"], oracle["b_y"], rtol=1e-9, atol=1e-12)
    assert one["device"] == "cpu:0"
    assert many["device"] == "+".join(f"cpu:{i}" for i in range(replicas))  # every copy where it was asked


def test_too_few_devices_is_a_skip_that_says_why(trained):
    assert "8 cpu devices needed, TensorFlow sees 4" in trained["too_many"]


def test_the_axis_in_the_matrix():
    spec = build_spec({"devices": "cpu,gpu", "modes": "eager,function,graph,numpy", "batch_sizes": "8,32",
                       "sizes": "8", "dtypes": "float32", "replicas": "1,2"})
    ts = trials(spec)
    multi = [t for t in ts if t.replicas > 1]
    assert {t.mode.value for t in multi} == {"eager", "function"}  # the modes tf.distribute runs
    assert {t.config_id for t in multi} >= {"cpu-function-float32-b32-h8-t0-r2", "gpu-eager-float32-b8-h8-t0-r2"}
    assert all(not t.config_id.endswith("-r1") for t in ts)  # one device: the ids of runs before the axis
    weak = trials(build_spec({"devices": "cpu", "modes": "function", "batch_sizes": "8", "sizes": "8",
                              "dtypes": "float32", "replicas": "1,2,4", "scaling": "weak"}))
    assert [(t.replicas, t.batch_size) for t in weak] == [(1, 8), (2, 16), (4, 32)]  # per replica 8
    with pytest.raises(SpecError, match="replicas: 4: weak scaling makes a global batch of 1024"):
        build_spec({"batch_sizes": "256", "replicas": "1,4", "scaling": "weak", "n_train": 800})
    with pytest.raises(SpecError, match="batch_sizes: 2: smaller than the replicas"):
        build_spec({"batch_sizes": "2,8", "replicas": "1,4"})
    with pytest.raises(SpecError, match="replicas"):
        build_spec({"replicas": "0"})


@pytest.mark.slow
def test_a_replicas_sweep_reports_scaling(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--devices", "cpu,gpu", "--modes", "function,numpy", "--replicas", "1,2",
         "--batch-sizes", "16,32", "--hidden-sizes", "8", "--dtypes", "float32", "--n-train", "256", "--epochs", "3",
         "--repeats", "3", "--peak-n", "0", "--no-plots", "--quiet", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(out)
    r2 = run.summary[run.summary["replicas"] == 2]
    assert set(r2["config_id"]) == {"cpu-function-float32-b16-h8-t0-r2", "cpu-function-float32-b32-h8-t0-r2",
                                    "gpu-function-float32-b16-h8-t0-r2", "gpu-function-float32-b32-h8-t0-r2"}
    cpu2 = r2[r2["device"] == "cpu"]
    assert (cpu2["status"] == "ok").all() and (cpu2["device_actual"] == "cpu:0+cpu:1").all()
    assert (r2[r2["device"] == "gpu"]["status"] == "skipped").all()
    analysis = json.loads((out / "analysis.json").read_text())
    kinds = {(s["kind"], s["global_batch"], s["one_device_batch"]) for s in analysis["scaling"]}
    assert kinds == {("strong", 16, 16), ("strong", 32, 32), ("weak", 32, 16)}  # (weak 16 needs batch 8: absent)
    for s in analysis["scaling"]:  # efficiency is the speed-up over N, its interval too
        one, two = (float(np.median(run.samples[s[k]])) for k in ("reference_config_id", "candidate_config_id"))
        assert s["efficiency"] == pytest.approx(one / (2 * two), rel=1e-9)
        assert s["ci_low"] <= s["efficiency"] <= s["ci_high"]
    assert "scaling efficiency" in proc.stdout
