"""Mixed precision as dtype modes (mixed_float16, mixed_bfloat16): Keras's policies on a workload's model (float32
variables and loss, 16-bit layers, loss scaling for float16), held to float32's trajectory within the stated
tolerance (bench.engine.contract.MIXED_TOLERANCE), refused for the MLP's own trainers with exit 2, and answered
as "What does mixed precision buy here?"."""

from __future__ import annotations

import json

import pytest

from bench.engine.contract import MIXED_TOLERANCE
from bench.format import load_run
from mlp_core import DTypeMode, TrainConfig
from tests.test_workloads import ROOT, _cli

CLASSIFIER = "examples.keras_classifier:workload"


def test_the_mixed_modes_say_what_they_compute_in():
    f16, bf16 = DTypeMode("mixed_float16"), DTypeMode("mixed_bfloat16")
    assert (f16.data_dtype, f16.compute_dtype, f16.variable_dtype, f16.policy) == \
        ("float32", "float16", "float32", "mixed_float16")
    assert (bf16.compute_dtype, bf16.variable_dtype, bf16.mixed) == ("bfloat16", "float32", True)
    assert not DTypeMode.FLOAT64_CAST.mixed and DTypeMode.FLOAT64_CAST.variable_dtype == "float32"


def test_modes_without_mixed_precision_are_left_out_or_refused():
    from bench.format.spec import build_spec, trials

    spec = build_spec({"modes": ["article", "eager", "numpy"], "dtypes": ["float32", "mixed_float16"],
                       "batch_sizes": [32], "sizes": [8], "devices": ["cpu"]})
    assert {(t.mode, t.dtype) for t in trials(spec)} == {("article", "float32"), ("eager", "float32"),
                                                         ("numpy", "float32"), ("eager", "mixed_float16")}
    res = _cli("-m", "bench.run", "--modes", "numpy", "--dtypes", "mixed_bfloat16", "--out", "/nonexistent/x")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "dtypes: ['mixed_bfloat16']: empty matrix: mixed precision is the TF modes'" in res.stderr, res.stderr
    with pytest.raises(ValueError, match="mode 'numpy' has no mixed precision"):
        TrainConfig(mode="numpy", dtype="mixed_bfloat16")


def test_the_mlps_float16_trajectory_says_when_loss_scaling_skipped_steps():
    """The article's MLP (standard-normal weights, large gradients) overflows float16 at Keras's initial loss
    scale (2^15): the scaler skips those steps and halves the scale, so the first epoch is not float32's. The
    check fails and says so; bfloat16 (float32's range, no scaling) passes."""
    pytest.importorskip("tensorflow")
    from bench.engine.contract import Settings, check

    _, checks = check("mlp", Settings(n_train=256, epochs=2, dtypes=("float32", "mixed_float16", "mixed_bfloat16"),
                                      devices=("cpu",)))
    by_name = {c.name: c for c in checks}
    f16, bf16 = by_name["mixed_float16 ~ float32 (eager)"], by_name["mixed_bfloat16 ~ float32 (eager)"]
    assert f16.outcome == "fail" and f16.values["skipped_steps"] > 0, f16
    assert f"loss scaling skipped {f16.values['skipped_steps']} of 16 steps" in f16.detail
    assert bf16.outcome == "pass" and bf16.values["skipped_steps"] == 0, bf16
    agree = [c for c in checks if " = eager (mixed" in c.name]
    assert len(agree) == 6 and all(c.outcome == "pass" for c in agree), agree


@pytest.mark.parametrize("dtype", ["mixed_float16", "mixed_bfloat16"])
def test_a_mixed_policy_trains_in_16_bits_and_follows_float32(dtype, monkeypatch):
    pytest.importorskip("tensorflow")
    import keras

    from mlp_core import workloads
    from mlp_core.trainer import make_trainer, train_with

    monkeypatch.syspath_prepend(str(ROOT))
    workload = workloads.get(CLASSIFIER)
    data = workload.data(0, 256, 64)
    losses = {}
    for d in ("float32", dtype):
        config = TrainConfig(workload=CLASSIFIER, size=16, batch_size=32, epochs=4, mode="function", dtype=d,
                             learning_rate=workload.learning_rate)
        trainer = make_trainer(data, config)
        losses[d] = train_with(trainer, data, config).train_loss
    dense = trainer.model.layers[0]
    assert dense.compute_dtype == DTypeMode(dtype).compute_dtype and dense.kernel.dtype == "float32"
    scaled = isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (dtype == "mixed_float16")  # float16's narrow range needs loss scaling; bfloat16's does not
    devs = [abs(a - b) / b for a, b in zip(losses[dtype], losses["float32"])]
    assert 0 < max(devs) <= MIXED_TOLERANCE[dtype], devs  # rounded in 16 bits, and no further than stated


@pytest.mark.slow
def test_a_run_answers_what_mixed_precision_buys(tmp_path):
    out = tmp_path / "mixed"
    res = _cli("-m", "bench.run", "--workload", "cnn", "--devices", "cpu", "--modes", "function", "--dtypes",
               "float32,mixed_bfloat16", "--batch-sizes", "32", "--sizes", "8", "--n-train", "256", "--n-test", "64",
               "--epochs", "3", "--repeats", "3", "--peak-n", "0", "--quiet", "--no-plots", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "What does mixed precision buy here?" in res.stdout + res.stderr
    analysis = json.loads((out / "analysis.json").read_text())
    (entry,) = analysis["mixed_precision"]
    assert (entry["reference"], entry["candidate"]) == ("float32", "mixed_bfloat16")
    assert entry["verdict"] in ("faster", "slower", "no-difference", "inconclusive") and entry["speedup"] > 0
    # the documented speed-up, recomputed: the ratio of the geometric means of each repeat's median epoch time
    import numpy as np

    reps = load_run(out).repeats
    gmean = {d: float(np.exp(np.log(g["median_epoch_s"]).mean())) for d, g in reps.groupby("dtype")}
    assert entry["speedup"] == pytest.approx(gmean["float32"] / gmean["mixed_bfloat16"], rel=1e-9)
