"""The floor (numba) and the peers (JAX) against the NumPy float64 oracle, their sample order, their
placement honesty, and what happens without their libraries (a skip that says how to install)."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mlp_core import DTypeMode, ExecMode, TrainConfig, init_params, train
from mlp_core.errors import PlacementError, UnavailableError
from mlp_core.params import PARAM_NAMES
from mlp_core.reference import train_numpy
from mlp_core.trainer import make_trainer

ROOT = Path(__file__).resolve().parent.parent
PEERS = [ExecMode.NUMBA, ExecMode.JAX_STEP, ExecMode.JAX_EPOCH]
TOL = {DTypeMode.FLOAT32: 1e-4, DTypeMode.FLOAT64_CAST: 1e-4, DTypeMode.FLOAT64: 1e-10}


def _needs(mode: ExecMode) -> None:
    pytest.importorskip("numba" if mode == ExecMode.NUMBA else "jax")


def rel_err(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300))


@pytest.fixture(scope="module")
def start_params():
    return init_params(3, 20, seed=1)


@pytest.mark.parametrize("batch", [8, 12])  # 64 samples: 8 whole batches; 5 of 12 and a last one of 4
@pytest.mark.parametrize("dtype", [d for d in DTypeMode if not d.mixed])  # the MLP's own trainers
@pytest.mark.parametrize("mode", PEERS)
def test_two_epoch_trajectory_matches_the_float64_oracle(small_data, start_params, mode, dtype, batch):
    _needs(mode)
    ref = train_numpy(small_data, TrainConfig(epochs=2, batch_size=batch, shuffle=False, dtype=DTypeMode.FLOAT64,
                                              mode=ExecMode.NUMPY), start_params)
    res = train(small_data, TrainConfig(epochs=2, batch_size=batch, shuffle=False, dtype=dtype, mode=mode),
                start_params)
    tol = TOL[dtype]
    np.testing.assert_allclose(res.train_mse, ref.train_mse, rtol=tol)
    assert res.test_mse == pytest.approx(ref.test_mse, rel=tol)
    np.testing.assert_allclose(res.article_train_metric, ref.article_train_metric, rtol=tol)
    for name in PARAM_NAMES:
        assert rel_err(getattr(res.params, name), getattr(ref.params, name)) <= tol, name
    assert res.device == "cpu:0" and len(res.epoch_times_s) == 2 and all(t > 0 for t in res.epoch_times_s)


@pytest.mark.parametrize("mode", PEERS)
def test_their_own_shuffle_is_the_baselines_sample_order(small_data, start_params, mode):
    """Shuffling on, no orders given: each peer draws the epoch's order itself (numba inside the compiled
    epoch, from the same Generator stream) and trains on exactly the baseline's batches."""
    _needs(mode)
    cfg = dict(epochs=3, batch_size=8, shuffle=True, dtype=DTypeMode.FLOAT64)
    ref = train_numpy(small_data, TrainConfig(**cfg, mode=ExecMode.NUMPY), start_params)
    unshuffled = train_numpy(small_data, TrainConfig(**{**cfg, "shuffle": False}, mode=ExecMode.NUMPY), start_params)
    assert abs(unshuffled.train_mse[1] / ref.train_mse[1] - 1) > 1e-6  # the order matters to the trajectory
    res = train(small_data, TrainConfig(**cfg, mode=mode), start_params)
    np.testing.assert_allclose(res.train_mse, ref.train_mse, rtol=1e-10)
    assert res.test_mse == pytest.approx(ref.test_mse, rel=1e-10)


@pytest.mark.parametrize("mode", PEERS)
def test_given_orders_are_followed(small_data, start_params, mode):
    _needs(mode)
    rng = np.random.default_rng(7)
    orders = [rng.permutation(small_data.n_train) for _ in range(2)]
    cfg = dict(epochs=2, batch_size=8, dtype=DTypeMode.FLOAT64)
    ref = train_numpy(small_data, TrainConfig(**cfg, mode=ExecMode.NUMPY), start_params, orders=orders)
    trainer = make_trainer(small_data, TrainConfig(**cfg, mode=mode), start_params, orders=orders)
    from mlp_core.trainer import train_with

    res = train_with(trainer, small_data, TrainConfig(**cfg, mode=mode))
    np.testing.assert_allclose(res.train_mse, ref.train_mse, rtol=1e-10)


def test_numba_buffer_of_one_keeps_the_order(small_data, start_params):
    """tf.data's shuffle with a buffer of 1 is no shuffle: a hand-checkable case of the compiled shuffle."""
    _needs(ExecMode.NUMBA)
    cfg = dict(epochs=2, batch_size=8, dtype=DTypeMode.FLOAT64, mode=ExecMode.NUMBA)
    one = train(small_data, TrainConfig(**cfg, shuffle=True, shuffle_buffer=1), start_params)
    off = train(small_data, TrainConfig(**cfg, shuffle=False), start_params)
    assert one.train_mse == off.train_mse


def test_a_missing_library_is_a_skip_with_the_install_command(small_data, monkeypatch):
    import mlp_core.numba_train as nb

    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` now raises ImportError
    monkeypatch.setattr(nb, "_KERNEL", None)
    with pytest.raises(UnavailableError, match=r"mode 'numba' needs numba.*pip install 'eager-mlp-bench\[numba\]'"):
        make_trainer(small_data, TrainConfig(mode=ExecMode.NUMBA))
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(UnavailableError, match=r"mode 'jax-step' needs JAX.*pip install 'eager-mlp-bench\[jax\]'"):
        make_trainer(small_data, TrainConfig(mode=ExecMode.JAX_STEP))


def test_jax_gpu_requested_without_one_is_unavailable(small_data):
    jax = pytest.importorskip("jax")
    if any(d.platform != "cpu" for d in jax.devices()):
        pytest.skip("this machine has an accelerator")
    with pytest.raises(UnavailableError, match=r"'gpu:0' requested but JAX sees no such device \(visible: cpu:0\)"):
        make_trainer(small_data, TrainConfig(mode=ExecMode.JAX_STEP, device="gpu"))


def test_jax_device_names_and_a_result_from_the_wrong_device_is_refused(small_data):
    pytest.importorskip("jax")
    from mlp_core.jax_train import device_name

    assert device_name(SimpleNamespace(platform="cuda", id=1)) == "gpu:1"
    assert device_name(SimpleNamespace(platform="gpu", id=0)) == "gpu:0"
    assert device_name(SimpleNamespace(platform="cpu", id=0)) == "cpu:0"
    trainer = make_trainer(small_data, TrainConfig(mode=ExecMode.JAX_EPOCH, epochs=1))
    trainer.requested = "gpu:0"  # as if the arrays had silently stayed on the host
    with pytest.raises(PlacementError, match="requested gpu:0 but the weights live on cpu:0"):
        trainer.finish()


def test_cpu_only_modes_refuse_a_gpu():
    for mode in (ExecMode.NUMPY, ExecMode.NUMBA):
        with pytest.raises(ValueError, match=f"mode '{mode.value}' runs on the CPU only"):
            TrainConfig(mode=mode, device="gpu")
    assert TrainConfig(mode=ExecMode.JAX_STEP, device="gpu").device.value == "gpu"


@pytest.mark.slow
def test_the_runner_without_tensorflow(tmp_path):
    """On a machine where TensorFlow cannot be imported, the non-TF modes measure and the TF ones are skipped
    with the install command; a GPU asked of JAX where there is none is skipped with the reason."""
    pytest.importorskip("numba")
    pytest.importorskip("jax")
    fake = tmp_path / "no-tf"
    (fake / "tensorflow").mkdir(parents=True)
    (fake / "tensorflow" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'tensorflow'\", "
                                                     "name='tensorflow')\n")
    out = tmp_path / "run"
    env = {**__import__("os").environ, "PYTHONPATH": f"{fake}:{ROOT}"}
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--devices", "cpu,gpu", "--modes",
                           "numpy,numba,jax-step,jax-epoch,eager", "--dtypes", "float32", "--batch-sizes", "16",
                           "--hidden-sizes", "8", "--n-train", "128", "--n-test", "16", "--epochs", "3",
                           "--repeats", "2", "--peak-n", "0", "--no-plots", "--quiet", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=280)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    import pandas as pd

    rows = pd.read_csv(out / "summary.csv", keep_default_na=False).set_index("config_id")
    status = rows["status"].to_dict()
    for mode in ("numpy", "numba", "jax-step", "jax-epoch"):
        assert status[f"cpu-{mode}-float32-b16-h8-t0"] == "ok", rows.loc[f"cpu-{mode}-float32-b16-h8-t0"].to_dict()
    assert status["cpu-eager-float32-b16-h8-t0"] == "skipped"
    assert "pip install tensorflow" in rows.loc["cpu-eager-float32-b16-h8-t0", "reason"]
    for mode in ("jax-step", "jax-epoch"):
        assert status[f"gpu-{mode}-float32-b16-h8-t0"] == "skipped"
        assert "JAX sees no such device" in rows.loc[f"gpu-{mode}-float32-b16-h8-t0", "reason"]
    assert "gpu-numba-float32-b16-h8-t0" not in status  # CPU-only modes are not in the GPU matrix


@pytest.mark.parametrize("mode", PEERS)
def test_divergence_still_reads_as_non_finite(small_data, start_params, mode):
    """numba's fast-math flags let sums be reassociated but keep NaN and inf (no nnan/ninf): a run whose
    learning rate blows it up must end non-finite in every peer, as in the baseline."""
    _needs(mode)
    cfg = dict(epochs=3, batch_size=8, shuffle=False, dtype=DTypeMode.FLOAT32, learning_rate=1e6)
    ref = train_numpy(small_data, TrainConfig(**cfg, mode=ExecMode.NUMPY), start_params)
    res = train(small_data, TrainConfig(**cfg, mode=mode), start_params)
    assert not np.isfinite(ref.train_mse[-1]) and not np.isfinite(res.train_mse[-1])
