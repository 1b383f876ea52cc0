"""Every branch that decides where work runs."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mlp_core import Device, DTypeMode, ExecMode, TrainConfig, init_params, make_data, modes, train
from mlp_core.reference import train_numpy

placement = pytest.importorskip("mlp_core.placement")
tf = placement.tf

no_gpu = pytest.mark.skipif(bool(tf.config.list_logical_devices("GPU")), reason="a GPU is visible")


@no_gpu
@pytest.mark.parametrize("mode", [ExecMode(m) for m in modes.names() if ExecMode(m).needs_tensorflow])
def test_gpu_without_gpu_raises_typed_error(small_data, mode):
    with pytest.raises(placement.DeviceUnavailableError, match="'gpu' requested but TensorFlow sees no GPU"):
        train(small_data, TrainConfig(epochs=1, device=Device.GPU, mode=mode))


@no_gpu
def test_article_soft_placement_fallback_is_caught(small_data):
    """The article's fault: tf.device('gpu:0') with soft placement runs on the CPU. We refuse it."""
    with pytest.raises(placement.PlacementError, match="requested gpu:0 but the ops ran on cpu:0"):
        train(small_data, TrainConfig(epochs=1, device=Device.GPU, mode=ExecMode.ARTICLE, soft_placement=True))
    assert tf.config.get_soft_device_placement() is True  # TF's default restored afterwards


def test_hard_placement_restores_previous_setting():
    tf.config.set_soft_device_placement(True)
    with placement.hard_placement():
        assert tf.config.get_soft_device_placement() is False
        with pytest.raises(tf.errors.InvalidArgumentError), tf.device("/GPU:7"):
            tf.matmul(tf.ones((2, 2)), tf.ones((2, 2)))
    assert tf.config.get_soft_device_placement() is True


def test_cpu_run_reports_cpu(small_data):
    assert train(small_data, TrainConfig(epochs=1, batch_size=16)).device == "cpu:0"


def test_numpy_mode_is_cpu_only():
    with pytest.raises(ValueError, match="mode 'numpy' runs on the CPU only, got device 'gpu'"):
        TrainConfig(mode=ExecMode.NUMPY, device=Device.GPU)


def test_check_placement_rejects_mixed_or_wrong_devices():
    with tf.device("/CPU:0"):
        t = tf.ones(1)
    assert placement.check_placement("cpu:0", t) == "cpu:0"
    with pytest.raises(placement.PlacementError, match="requested gpu:0 but the ops ran on cpu:0"):
        placement.check_placement("gpu:0", t)
    with pytest.raises(placement.PlacementError, match="requested cpu:1 but the ops ran on cpu:0"):
        placement.check_placement("cpu:1", t)


def test_canonical_device_names():
    assert placement.canonical("/job:localhost/replica:0/task:0/device:GPU:1") == "gpu:1"
    assert placement.canonical("/device:CPU:0") == "cpu:0"


SECOND_DEVICE_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from mlp_core import TrainConfig, init_params, make_data, train
    data = make_data(seed=123, n_train=64, n_test=16)
    out = {}
    for mode in ("article", "eager", "function", "xla", "graph"):
        cfg = TrainConfig(epochs=2, batch_size=8, shuffle=False, dtype="float64", mode=mode)
        r = train(data, cfg, init_params(3, 20, seed=1), device_index=1)
        out[mode] = {"device": r.device, "train_mse": r.train_mse, "test_mse": r.test_mse}
    try:
        train(data, TrainConfig(epochs=1), device_index=2)
    except Exception as e:
        out["missing"] = type(e).__name__
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_training_on_a_second_logical_device():
    """Two logical CPUs: the data pipeline stays on cpu:0, compute is hard-placed on cpu:1,
    the same split of work as host + GPU, and the result is still the reference's."""
    proc = subprocess.run([sys.executable, "-c", SECOND_DEVICE_SCRIPT], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    data = make_data(seed=123, n_train=64, n_test=16)
    ref = train_numpy(data, TrainConfig(epochs=2, batch_size=8, shuffle=False, dtype=DTypeMode.FLOAT64,
                                        mode=ExecMode.NUMPY), init_params(3, 20, seed=1))
    for mode, r in ((m, out[m]) for m in ("eager", "function", "xla", "graph")):
        assert r["device"] == "cpu:1", mode
        np.testing.assert_allclose(r["train_mse"], ref.train_mse, rtol=1e-10, err_msg=mode)
    assert out["article"]["device"] == "cpu:1"
    assert out["missing"] == "InvalidArgumentError"  # cpu:2 does not exist: hard placement refuses
